// One image at a time; answers go to the server, which appends them to the labels CSV.
let current = null;
let busy = false;

function show(item) {
  current = item.done ? null : item;
  document.getElementById("class").textContent = item.done ? "All images are labelled. Thank you!" : "Sound: " + item.class_name;
  const img = document.getElementById("image");
  if (item.done) { img.removeAttribute("src"); } else { img.src = "image/" + item.image_id + ".png"; }
  document.getElementById("status").textContent = item.labelled + " labelled, " + item.remaining + " to go";
  document.body.dataset.imageId = item.done ? "" : item.image_id;
}

async function call(method, path, body) {
  const response = await fetch(path, {method: method, headers: {"Content-Type": "application/json"},
                                      body: body ? JSON.stringify(body) : undefined});
  if (!response.ok) { throw new Error(await response.text()); }
  return response.json();
}

async function act(label) {
  if (busy) { return; }
  busy = true;
  try {
    if (label === "undo") { show(await call("POST", "undo")); }
    else if (current) { show(await call("POST", "label", {image_id: current.image_id, label: label})); }
  } catch (err) {
    document.getElementById("status").textContent = "error: " + err.message;
  } finally { busy = false; }
}

for (const name of ["informative", "not_informative", "skip", "undo"]) {
  document.getElementById(name).addEventListener("click", () => act(name));
}
const KEYS = {i: "informative", n: "not_informative", s: "skip", u: "undo"};
document.addEventListener("keydown", (event) => {
  const label = KEYS[event.key];
  if (label && !event.ctrlKey && !event.metaKey && !event.altKey) { event.preventDefault(); act(label); }
});
call("GET", "next").then(show);
