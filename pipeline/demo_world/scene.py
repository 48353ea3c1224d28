"""Procedural scenes for the five classes, drawn with numpy.

Each scene paints its static background once per clip and then, for every frame,
copies it and draws what moves. What moves is read from the clip's `ClassSound`
(envelope and events), so the frame at time t shows the sound at time t:
a crying baby opens its mouth and reddens with the cry's loudness, a barking dog
opens its jaws, train cars pass the camera in step with the clacks, each bang is a
burst whose size follows its loudness, and louder water flows faster with more foam.
"""

from __future__ import annotations

import numpy as np

from .sound import CONTROL_RATE, ClassSound
from .styles import hsv, mix


class Geo:
    """Scene units (u right, v down, from the centre, in shorter sides) to pixels."""

    def __init__(self, width: int, height: int):
        self.w, self.h, self.s = width, height, min(width, height)
        self.u_edge = width / 2 / self.s
        self.v_edge = height / 2 / self.s

    def x(self, u):
        return self.w / 2 + u * self.s

    def y(self, v):
        return self.h / 2 + v * self.s

    def grid(self):
        """u and v of every pixel centre."""
        u = (np.arange(self.w, dtype=np.float32) + 0.5 - self.w / 2) / self.s
        v = (np.arange(self.h, dtype=np.float32) + 0.5 - self.h / 2) / self.s
        return u[None, :], v[:, None]


def _window(img, x0, y0, x1, y1):
    h, w = img.shape[:2]
    x0, y0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
    x1, y1 = min(int(np.ceil(x1)), w), min(int(np.ceil(y1)), h)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _paint(region, mask, color, alpha):
    if alpha >= 1:
        region[mask] = np.clip(color, 0, 255)
    else:
        region[mask] = np.clip(region[mask] * (1 - alpha) + np.asarray(color) * alpha, 0, 255)


def ellipse(img, cx, cy, rx, ry, color, alpha=1.0):
    """Filled ellipse in pixel coordinates."""
    box = _window(img, cx - rx, cy - ry, cx + rx + 1, cy + ry + 1)
    if box is None or rx <= 0 or ry <= 0:
        return
    x0, y0, x1, y1 = box
    xs = (np.arange(x0, x1) + 0.5 - cx) / rx
    ys = (np.arange(y0, y1) + 0.5 - cy) / ry
    mask = xs[None, :] ** 2 + ys[:, None] ** 2 <= 1
    _paint(img[y0:y1, x0:x1], mask, color, alpha)


def rect(img, x0, y0, x1, y1, color, alpha=1.0):
    box = _window(img, x0, y0, x1, y1)
    if box is None:
        return
    x0, y0, x1, y1 = box
    region = img[y0:y1, x0:x1]
    if alpha >= 1:
        region[:] = np.clip(color, 0, 255)
    else:
        region[:] = np.clip(region * (1 - alpha) + np.asarray(color) * alpha, 0, 255)


def vertical_gradient(geo: Geo, top, bottom, v0=None, v1=None) -> np.ndarray:
    _, v = geo.grid()
    v0 = -geo.v_edge if v0 is None else v0
    v1 = geo.v_edge if v1 is None else v1
    w = np.clip((v - v0) / (v1 - v0), 0, 1)[..., None]
    col = np.asarray(top, np.float32) * (1 - w) + np.asarray(bottom, np.float32) * w
    return np.broadcast_to(col, (geo.h, geo.w, 3)).astype(np.float32)


def texture(rng, shape, smooth_y: float, smooth_x: float) -> np.ndarray:
    """Periodic smooth noise in 0..1, correlation lengths in pixels."""
    spec = np.fft.fft2(rng.standard_normal(shape))
    fy = np.fft.fftfreq(shape[0])[:, None] * smooth_y
    fx = np.fft.fftfreq(shape[1])[None, :] * smooth_x
    field = np.real(np.fft.ifft2(spec * np.exp(-(fy**2 + fx**2) * 20)))
    field = (field - field.mean()) / (field.std() + 1e-9)
    return np.clip(0.5 + 0.2 * field, 0, 1).astype(np.float32)


class Scene:
    def __init__(self, style: dict, sound: ClassSound, geo: Geo, rng: np.random.Generator, span):
        self.style, self.sound, self.geo, self.span = style, sound, geo, span
        self.bg = np.clip(self.background(rng), 0, 255).astype(np.uint8)

    def background(self, rng) -> np.ndarray:
        raise NotImplementedError

    def frame(self, t: float) -> np.ndarray:
        img = self.bg.copy()
        self.draw(img, t)
        return img

    def frames(self, fps: int, count: int):
        """Frames k / fps for k < count, drawn into one reused buffer (consume each before the next)."""
        buf = np.empty_like(self.bg)
        for k in range(count):
            np.copyto(buf, self.bg)
            self.draw(buf, k / fps)
            yield buf

    def draw(self, img, t):
        raise NotImplementedError


class BabyScene(Scene):
    """A baby's face in a cot or nursery; mouth, eyes and redness follow the cry."""

    def background(self, rng):
        st, g = self.style, self.geo
        img = vertical_gradient(g, st["wall"], st["wall"] * 0.85)
        u, v = g.grid()
        if st["pattern"] == "bars":
            period = rng.uniform(0.09, 0.16)
            bars = (np.mod(u + rng.uniform(0, 1), period) < period * 0.35) & (v > -0.45)
            img[np.broadcast_to(bars, img.shape[:2])] = st["pattern_color"]
            rect(img, 0, g.y(-0.47), g.w, g.y(-0.43), st["pattern_color"] * 0.8)
        elif st["pattern"] == "dots":
            period = rng.uniform(0.07, 0.12)
            du, dv = np.mod(u, period) - period / 2, np.mod(v, period) - period / 2
            dots = du**2 + dv**2 < (period * 0.22) ** 2
            img[dots] = mix(st["wall"], st["pattern_color"], 0.5) * 0.9
        fu, fv, r = st["face_u"], st["face_v"], st["face_r"]
        cx, cy, rs = g.x(fu), g.y(fv), r * g.s
        ellipse(img, cx, g.y(fv + 1.55 * r), 2.1 * rs, 0.9 * rs, st["blanket"])
        rect(img, 0, g.y(fv + 1.7 * r), g.w, g.h, st["blanket"] * 0.92)
        for side in (-1, 1):
            ellipse(img, cx + side * 0.95 * rs, cy + 0.05 * rs, 0.2 * rs, 0.26 * rs, st["skin"] * 0.93)
        ellipse(img, cx, cy, rs, 1.08 * rs, st["skin"])
        if st["hat"] is not None:
            ellipse(img, cx, cy - 0.55 * rs, 1.05 * rs, 0.62 * rs, st["hat"])
            rect(img, cx - 1.05 * rs, cy - 0.55 * rs, cx + 1.05 * rs, cy - 0.4 * rs, st["hat"] * 0.85)
        else:
            ellipse(img, cx, cy - 0.78 * rs, 0.6 * rs, 0.28 * rs, st["hair"], 0.8)
        ellipse(img, cx, cy + 0.12 * rs, 0.12 * rs, 0.09 * rs, st["skin"] * 0.85)
        return img

    def draw(self, img, t):
        st, g = self.style, self.geo
        e = self.sound.env_at(t)
        pitch = float(self.sound.events["pitch"][min(int(t * CONTROL_RATE), len(self.sound.events["pitch"]) - 1)])
        cx, cy, rs = g.x(st["face_u"]), g.y(st["face_v"]), st["face_r"] * g.s
        ellipse(img, cx, cy, rs, 1.08 * rs, (225, 40, 40), 0.28 * e * min(pitch, 1.3))
        for side in (-1, 1):
            ellipse(img, cx + side * 0.5 * rs, cy + 0.25 * rs, 0.2 * rs, 0.14 * rs, (235, 90, 90), 0.2 + 0.5 * e)
            ex, ey = cx + side * 0.36 * rs, cy - 0.15 * rs
            if e > 0.25:
                rect(img, ex - 0.16 * rs, ey - 0.02 * rs, ex + 0.16 * rs, ey + 0.03 * rs, (60, 35, 30))
            else:
                ellipse(img, ex, ey, 0.13 * rs, 0.09 * rs, (245, 245, 245))
                ellipse(img, ex, ey, 0.07 * rs, 0.08 * rs, (40, 30, 25))
        my = cy + 0.48 * rs
        ellipse(img, cx, my, (0.14 + 0.14 * e) * rs, (0.04 + 0.26 * e) * rs, (110, 25, 35))
        if e > 0.3:
            ellipse(img, cx, my + 0.12 * e * rs, 0.12 * e * rs, 0.1 * e * rs, (220, 100, 110))


class DogScene(Scene):
    """A dog on grass under the sky; it opens its jaws and lifts its head on each bark."""

    def background(self, rng):
        st, g = self.style, self.geo
        hz = st["horizon"]
        img = vertical_gradient(g, st["sky_top"], st["sky_low"], -0.6, hz)
        u, v = g.grid()
        grass = np.broadcast_to(v > hz, img.shape[:2])
        shade = 0.8 + 0.35 * np.clip((v - hz) / 0.6, 0, 1)
        tex = texture(rng, img.shape[:2], 3, 25)
        grass_img = st["grass"] * (shade * (0.75 + 0.5 * tex))[..., None]
        img[grass] = grass_img[grass]
        if st["backdrop"] == "trees":
            for tu in np.sort(rng.uniform(-g.u_edge, g.u_edge, int(rng.integers(3, 8)))):
                tr = rng.uniform(0.06, 0.14) * g.s
                ellipse(img, g.x(tu), g.y(hz) - tr * 0.8, tr, tr * 1.2, st["grass"] * rng.uniform(0.45, 0.65))
        elif st["backdrop"] == "fence":
            wood = hsv(0.08, rng.uniform(0.1, 0.5), rng.uniform(0.55, 0.95))
            y0 = g.y(hz - 0.09)
            rect(img, 0, y0 + 0.015 * g.s, g.w, y0 + 0.03 * g.s, wood)
            rect(img, 0, y0 + 0.055 * g.s, g.w, y0 + 0.07 * g.s, wood)
            for px in np.arange(0, g.w, 0.07 * g.s):
                rect(img, px, y0, px + 0.02 * g.s, g.y(hz + 0.01), wood * 0.9)
        self.tex = tex
        return img

    def draw(self, img, t):
        st, g = self.style, self.geo
        e = self.sound.env_at(t)
        s, f, coat = st["size"] * g.s, st["facing"], st["coat"]
        feet = g.y(st["horizon"] + 0.1 + st["size"] * 0.55)
        bx, by = g.x(st["dog_u"]), feet - 0.55 * s
        # legs and body
        for dx in (-0.33, -0.2, 0.2, 0.33):
            rect(img, bx + dx * s - 0.05 * s, by, bx + dx * s + 0.05 * s, feet, coat * 0.85)
        ellipse(img, bx, by, 0.5 * s, 0.22 * s, coat)
        wag = np.sin(2 * np.pi * st["wag_rate"] * t)
        tx = bx - f * 0.52 * s
        ellipse(img, tx - f * 0.1 * s, by - 0.2 * s + wag * 0.06 * s, 0.13 * s, 0.04 * s, coat * 0.9)
        # head, lifted while barking
        hx, hy = bx + f * 0.5 * s, by - (0.3 + 0.1 * e) * s
        ellipse(img, hx, hy + 0.15 * s, 0.12 * s, 0.18 * s, coat)
        ellipse(img, hx, hy, 0.17 * s, 0.15 * s, coat)
        jaw = (0.02 + 0.14 * e) * s
        snout_x = hx + f * 0.18 * s
        rect(img, min(snout_x, snout_x + f * 0.2 * s), hy - 0.02 * s, max(snout_x, snout_x + f * 0.2 * s), hy + 0.06 * s, coat * 0.95)
        if e > 0.1:
            rect(img, min(snout_x, snout_x + f * 0.18 * s), hy + 0.06 * s, max(snout_x, snout_x + f * 0.18 * s), hy + 0.06 * s + jaw, (150, 40, 50))
        rect(img, min(snout_x, snout_x + f * 0.18 * s), hy + 0.06 * s + jaw, max(snout_x, snout_x + f * 0.18 * s), hy + 0.11 * s + jaw, coat * 0.9)
        ellipse(img, snout_x + f * 0.2 * s, hy, 0.035 * s, 0.03 * s, (20, 15, 15))
        ellipse(img, hx + f * 0.06 * s, hy - 0.05 * s, 0.03 * s, 0.03 * s, (20, 15, 15))
        if st["ears"] == "floppy":
            ellipse(img, hx - f * 0.08 * s, hy + 0.04 * s, 0.05 * s, 0.12 * s, coat * 0.6)
        else:
            ellipse(img, hx - f * 0.05 * s, hy - 0.16 * s, 0.045 * s, 0.09 * s, coat * 0.75)


class RailScene(Scene):
    """A track across a landscape; while the train passes, its couplings cross the centre at each clack."""

    def background(self, rng):
        st, g = self.style, self.geo
        img = vertical_gradient(g, st["sky_top"], st["sky_low"], -0.6, st["hill_v"])
        u, v = g.grid()
        a, b, c = st["hill_waves"]
        hill = st["hill_v"] + 0.05 * np.sin(4 * u + a) + 0.03 * np.sin(9 * u + b) + 0.015 * np.sin(17 * u + c)
        land = v > hill
        img[land] = st["hills"] * (0.9 + 0.2 * np.broadcast_to(v, land.shape)[land, None])
        tv = st["track_v"]
        ground = np.broadcast_to(v > tv - 0.12, land.shape)
        img[ground] = st["ground"]
        rect(img, 0, g.y(tv - 0.01), g.w, g.y(tv + 0.07), st["ballast"])
        for px in np.arange(rng.uniform(0, 0.08) * g.s, g.w, 0.08 * g.s):
            rect(img, px, g.y(tv + 0.005), px + 0.035 * g.s, g.y(tv + 0.03), (80, 55, 40))
        rect(img, 0, g.y(tv - 0.008), g.w, g.y(tv + 0.006), (170, 170, 175))
        self.bodies = [st["body"], st["body"] * 0.7]
        return img

    def draw(self, img, t):
        st, g, ev = self.style, self.geo, self.sound.events
        speed, car, d = ev["speed"], st["car_len"], st["direction"]
        front = d * speed * (t - ev["t_front"])  # u of the train's front: 0 at the first coupling
        length = speed * (ev["t_rear"] - ev["t_front"])
        lo, hi = (front - length, front) if d > 0 else (front, front + length)
        lo, hi = max(lo, -g.u_edge), min(hi, g.u_edge)
        if hi <= lo:
            return
        tv, h = st["track_v"], st["train_h"]
        top, bottom = g.y(tv - 0.02 - h), g.y(tv - 0.025)
        rect(img, g.x(lo), top, g.x(hi), bottom, st["body"])
        rect(img, g.x(lo), top + 0.55 * (bottom - top), g.x(hi), top + 0.65 * (bottom - top), st["stripe"])
        k0 = int(np.floor(abs(front) / car - g.u_edge / car)) - 1
        for k in range(max(k0, 0), k0 + int(2 * g.u_edge / car) + 3):
            joint = front - d * k * car  # coupling k: the front end of car k
            if k > 0 and lo < joint < hi:
                rect(img, g.x(joint) - 0.006 * g.s, top, g.x(joint) + 0.006 * g.s, bottom, (30, 30, 30))
            for w in range(st["windows"]):
                wu = joint - d * car * (0.12 + 0.76 * (w + 0.25) / st["windows"])
                ww = 0.4 * car / st["windows"]
                if lo < wu - ww / 2 and wu + ww / 2 < hi:
                    rect(img, g.x(wu - ww / 2), top + 0.15 * (bottom - top), g.x(wu + ww / 2), top + 0.45 * (bottom - top), (45, 60, 80))
            for bogie in (0.15, 0.85):
                wu = joint - d * car * bogie
                if lo < wu < hi:
                    ellipse(img, g.x(wu), bottom, 0.03 * g.s, 0.03 * g.s, (25, 25, 25))


class FireworksScene(Scene):
    """A night sky over a skyline, trees or water; each bang is a burst sized by its loudness, with a flash."""

    def background(self, rng):
        st, g = self.style, self.geo
        img = vertical_gradient(g, st["sky_top"], st["sky_low"], -0.55, st["ground_v"])
        sx = rng.integers(0, g.w, st["stars"] * g.w // g.s)
        sy = rng.integers(0, int(g.y(st["ground_v"])), len(sx))
        img[sy, sx] = rng.uniform(140, 255, (len(sx), 1))
        if st["moon"] is not None:
            mu, mv, mr = st["moon"]
            ellipse(img, g.x(mu), g.y(mv), mr * g.s, mr * g.s, (235, 230, 200))
        gv = g.y(st["ground_v"])
        if st["ground"] == "city":
            x = 0.0
            while x < g.w:
                bw, bh = rng.uniform(0.05, 0.14) * g.s, rng.uniform(0.04, 0.2) * g.s
                rect(img, x, gv - bh, x + bw, g.h, (12, 12, 18))
                for _ in range(int(rng.integers(0, 6))):
                    wx, wy = x + rng.uniform(0.1, 0.8) * bw, gv - rng.uniform(0.1, 0.9) * bh
                    rect(img, wx, wy, wx + 0.012 * g.s, wy + 0.015 * g.s, (230, 200, 110))
                x += bw
        elif st["ground"] == "trees":
            u, v = g.grid()
            line = st["ground_v"] - 0.03 * np.abs(np.sin(23 * u + rng.uniform(0, 6))) - 0.02 * np.sin(7 * u)
            img[np.broadcast_to(v > line, img.shape[:2])] = (8, 14, 10)
        else:
            u, v = g.grid()
            below = np.broadcast_to(v > st["ground_v"], img.shape[:2])
            img[below] = img[below] * 0.6 + np.array([5, 10, 30])
        self.ground_y = gv
        size = int(0.75 * g.s) | 1
        yy, xx = np.mgrid[:size, :size] - size // 2
        self.rho = np.hypot(yy, xx).astype(np.float32)
        self.theta = np.arctan2(yy, xx).astype(np.float32)
        return img

    def draw(self, img, t):
        g = self.geo
        flash = 0.0
        for b in self.sound.events["bangs"]:
            age = t - b["t"]
            if b["whistle"] and -0.7 <= age < 0:
                y = self.ground_y + (g.y(b["v"]) - self.ground_y) * (age + 0.7) / 0.7
                rect(img, g.x(b["u"]) - 1, y, g.x(b["u"]) + 2, y + 0.04 * g.s, (255, 220, 160), 0.8)
            if 0 <= age < 4 * b["decay"] + 0.4:
                glow = np.exp(-age / (1.5 * b["decay"] + 0.2))
                flash += b["amp"] * glow
                self._burst(img, b, age, glow)
        if flash > 0.02:
            flash = min(flash, 1.5)
            lut = np.clip(np.arange(256) * (1 + 0.08 * flash) + 20 * flash, 0, 255).astype(np.uint8)
            img[:] = lut[img]

    def _burst(self, img, b, age, glow):
        g = self.geo
        radius = (0.1 + 0.24 * b["amp"]) * g.s * (1 - np.exp(-age / 0.12)) + 1
        half = min(int(radius) + 2, self.rho.shape[0] // 2)
        c = self.rho.shape[0] // 2
        rho = self.rho[c - half : c + half + 1, c - half : c + half + 1] / radius
        theta = self.theta[c - half : c + half + 1, c - half : c + half + 1]
        if b["shape"] == 0:
            pattern = (np.cos(b["rays"] * theta) > 0.55) * (rho < 1) * rho
        elif b["shape"] == 1:
            pattern = np.exp(-(((rho - 0.9) / 0.12) ** 2))
        else:
            pattern = (np.cos(b["rays"] * theta) > 0.7) * (rho < 1) * rho + np.exp(-(((rho - 0.95) / 0.08) ** 2))
        color = mix(hsv(b["hue"], 0.85, 1.0), (255, 255, 255), np.exp(-age / 0.1))
        cx, cy = int(g.x(b["u"])), int(g.y(b["v"]))
        box = _window(img, cx - half, cy - half, cx + half + 1, cy + half + 1)
        if box is None:
            return
        x0, y0, x1, y1 = box
        p = pattern[y0 - (cy - half) : y1 - (cy - half), x0 - (cx - half) : x1 - (cx - half)]
        region = img[y0:y1, x0:x1]
        region[:] = np.clip(region + (glow * p)[..., None] * color.astype(np.float32), 0, 255)


class WaterScene(Scene):
    """A river or a waterfall; the water's texture flows faster and foams more when the sound is louder."""

    def background(self, rng):
        st, g = self.style, self.geo
        u, v = g.grid()
        img = vertical_gradient(g, st["bank"] * 0.7, st["bank"], -0.6, 0)
        foliage = texture(rng, (g.h, g.w), 8, 8)
        img *= (0.6 + 0.8 * foliage)[..., None]
        if st["kind"] == "river":
            edge = st["bank_v"] + 0.03 * np.sin(6 * u + rng.uniform(0, 6))
            water = np.broadcast_to(v > edge, (g.h, g.w)).copy()
            self.axis, period = 1, g.w
            smooth = (6, 60)
        else:
            left, right = st["fall_u"] - st["fall_w"] / 2, st["fall_u"] + st["fall_w"] / 2
            rocks = texture(rng, (g.h, g.w), 12, 12)
            img[:] = st["rock"] * (0.55 + 0.9 * rocks)[..., None]
            water = np.broadcast_to((u > left) & (u < right), (g.h, g.w)) | np.broadcast_to(v > 0.3, (g.h, g.w))
            water = water.copy()
            self.axis, period = 0, g.h
            smooth = (60, 6)
        for _ in range(st["rocks"]):
            ru, rv = rng.uniform(-0.45, 0.45), rng.uniform(0.05, 0.45)
            r = rng.uniform(0.03, 0.08)
            ellipse(img, g.x(ru), g.y(rv), r * g.s * 1.4, r * g.s, st["rock"] * rng.uniform(0.7, 1.1))
            inside = ((u - ru) / (1.4 * r)) ** 2 + ((v - rv) / r) ** 2 <= 1
            water &= ~inside
        self.water = np.repeat(water[..., None], 3, axis=2)
        tex = texture(rng, (g.h, g.w), *smooth)
        self.tex = (np.concatenate([tex, tex], axis=self.axis) * 255).astype(np.uint8)
        self.period = period
        # distance flowed at each control step: speed follows the sound's level
        level = self.sound.env
        speed = (0.15 + 1.2 * level) * g.s * st["force"]
        self.travel = np.concatenate([[0.0], np.cumsum(speed) / CONTROL_RATE])
        self.shade = np.arange(256, dtype=np.float32) / 255
        return img

    def draw(self, img, t):
        st = self.style
        k = min(int(t * CONTROL_RATE), len(self.travel) - 1)
        level = self.sound.env_at(t)
        offset = int(self.travel[k]) % self.period
        if st["kind"] == "fall" or st["flow_dir"] < 0:
            offset = self.period - 1 - offset
        tex = self.tex[offset : offset + self.geo.h] if self.axis == 0 else self.tex[:, offset : offset + self.geo.w]
        lut = np.clip(st["water"][None, :] * (0.55 + 0.9 * self.shade[:, None]), 0, 255)
        foam = self.shade > 0.78 - 0.22 * level
        lut[foam] = mix(lut[foam], (245, 250, 252), 0.85)
        np.copyto(img, lut.astype(np.uint8)[tex], where=self.water)


SCENES = [BabyScene, DogScene, RailScene, FireworksScene, WaterScene]


def make_scene(class_index: int, style: dict, sound: ClassSound, width: int, height: int, rng: np.random.Generator, span) -> Scene:
    return SCENES[class_index](style, sound, Geo(width, height), rng, span)
