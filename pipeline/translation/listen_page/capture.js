// AudioWorklet: collects the microphone at the context's rate (16 kHz) into 1-s windows of
// 16-bit samples and reports the level about 20 times a second. It outputs nothing audible.
class Capture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.windowSamples = options.processorOptions.windowSamples;
    this.window = new Int16Array(this.windowSamples);
    this.filled = 0;
    this.levelSum = 0;
    this.levelCount = 0;
  }
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      const x = Math.max(-1, Math.min(1, channel[i]));
      this.levelSum += x * x;
      this.window[this.filled++] = Math.round(x * 32767);
      if (this.filled === this.windowSamples) {
        this.port.postMessage({window: this.window}, [this.window.buffer]);
        this.window = new Int16Array(this.windowSamples);
        this.filled = 0;
      }
    }
    this.levelCount += channel.length;
    if (this.levelCount >= this.windowSamples / 20) {
      this.port.postMessage({level: Math.sqrt(this.levelSum / this.levelCount)});
      this.levelSum = 0;
      this.levelCount = 0;
    }
    return true;
  }
}
registerProcessor("capture", Capture);
