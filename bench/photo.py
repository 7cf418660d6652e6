"""Phone photos of a page: how long pipeline.extract.photo takes to flatten one, and what OCR costs with it.

    python bench/photo.py --photos 5 --seed 7

Makes synthetic 12-megapixel photos (the committed 申请表 scan in perspective on a textured brown desk,
uneven light, JPEG quality 85; ``synthetic_photo``, which tests/test_photo.py uses too) in a child process,
times ``prepare_photo`` on each (median wall and CPU seconds, peak RSS of this process, which only decodes
the photos and prepares them), checks the found corners against the true ones, and for comparison times
one bare RapidOCR call on a raw photo and one on its flattened page.  A JSON line ends it.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import multiprocessing
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.extract.ocr import OcrPage  # noqa: E402
from pipeline.extract.photo import prepare_photo  # noqa: E402

FORM = REPO / "samples" / "cases" / "xiamen-new-scan" / "申请表.jpg"
ID_COPY = REPO / "samples" / "cases" / "xiamen-new-scan" / "法定代表人身份证.jpg"
FOCAL = 0.75  # the simulated phone's focal length, as a fraction of the frame's long side


def _rotation(roll: float, tilt_x: float, tilt_y: float) -> np.ndarray:
    """Camera rotation from angles in degrees: in-plane roll, then tilts about the x and y axes."""
    r, a, b = (math.radians(v) for v in (roll, tilt_x, tilt_y))
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    return rx @ ry @ rz


def page_corners(
    page_size: tuple[int, int], frame: tuple[int, int], rng: np.random.Generator, *, area: float, roll: float
) -> np.ndarray:
    """Where a pinhole camera sees the page's corners (tl, tr, br, bl of the page) when it is tilted up to
    25°/15° and the page covers about ``area`` of the frame, all corners inside it."""
    pw, ph = page_size
    width, height = frame
    focal = FOCAL * max(width, height)
    world = np.array([[-pw / 2, -ph / 2, 0], [pw / 2, -ph / 2, 0], [pw / 2, ph / 2, 0], [-pw / 2, ph / 2, 0]])
    for attempt in range(400):
        scale = 0.9 ** (attempt // 40)  # a page that does not fit at ``area`` is moved further away
        distance = focal / math.sqrt(scale * area * width * height / (pw * ph))
        rot = _rotation(roll + rng.uniform(-12, 12), rng.uniform(-25, 25), rng.uniform(-15, 15))
        shift = np.array([rng.uniform(-0.12, 0.12) * width, rng.uniform(-0.12, 0.12) * height, 0])
        cam = world @ rot.T + shift * (distance / focal) + np.array([0, 0, distance])
        corners = focal * cam[:, :2] / cam[:, 2:3] + np.array([width / 2, height / 2])
        margin = 0.03 * min(width, height)
        inside = (corners >= margin).all() and (corners <= np.array([width, height]) - margin).all()
        if inside:
            return corners.astype(np.float32)
    raise RuntimeError("no placement found")  # pragma: no cover - moving away always ends in one


def _desk(frame: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A brown wood-like desk: blotches, grain streaks and fine noise, RGB uint8."""
    width, height = frame
    blotches = cv2.resize(rng.normal(0, 14, (height // 60, width // 60)).astype(np.float32), frame)
    grain = cv2.resize(rng.normal(0, 10, (height // 3, 12)).astype(np.float32), frame)
    luma = blotches + grain + rng.normal(0, 6, (height, width)).astype(np.float32)
    colour = np.array([150, 102, 62], np.float32) + rng.uniform(-25, 25, 3).astype(np.float32)
    desk = luma[:, :, None] * np.float32(0.8) + colour
    return np.clip(desk, 0, 255).astype(np.uint8)


def _light(frame: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Multiplicative light over the frame: a gradient, a vignette and a soft shadow (a hand, a phone)."""
    width, height = frame
    sw, sh = width // 8, height // 8
    ys, xs = np.mgrid[0:sh, 0:sw].astype(np.float32)
    xs, ys = xs / sw - 0.5, ys / sh - 0.5
    angle = rng.uniform(0, 2 * math.pi)
    gradient = 1 + rng.uniform(0.15, 0.3) * (xs * math.cos(angle) + ys * math.sin(angle)) * 2
    vignette = 1 - rng.uniform(0.25, 0.4) * (xs**2 + ys**2) * 2
    blob = np.zeros((sh, sw), np.float32)
    centre = (int(rng.uniform(0.2, 0.8) * sw), int(rng.uniform(0.2, 0.8) * sh))
    cv2.ellipse(blob, centre, (sw // 6, sh // 10), rng.uniform(0, 180), 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(blob, (0, 0), sw / 30)
    light = (gradient * vignette * (1 - rng.uniform(0.2, 0.3) * shadow)).astype(np.float32)
    return cv2.resize(light, frame, interpolation=cv2.INTER_LINEAR)


def synthetic_photo(
    page: Image.Image,
    rng: np.random.Generator,
    *,
    frame: tuple[int, int] = (4000, 3000),
    area: float = 0.45,
    roll: float = 0.0,
) -> tuple[Image.Image, np.ndarray]:
    """``page`` photographed on a desk: perspective, uneven warm light, sensor noise, JPEG quality 85.

    Returns the photo and the page's true corners in it (tl, tr, br, bl of the page itself: a page turned
    by ``roll`` = 90 has its top-left corner on the photo's right)."""
    corners = page_corners(page.size, frame, rng, area=area, roll=roll)
    source = np.array([[0, 0], [page.width, 0], [page.width, page.height], [0, page.height]], np.float32)
    matrix = cv2.getPerspectiveTransform(source, corners)
    scene = _desk(frame, rng)
    cv2.warpPerspective(np.asarray(page.convert("RGB")), matrix, frame, dst=scene, borderMode=cv2.BORDER_TRANSPARENT)
    tint = np.array([1.0, 0.96, 0.88], np.float32)
    lit = scene.astype(np.float32) * (_light(frame, rng)[:, :, None] * tint)
    lit += rng.normal(0, 2.5, lit.shape[:2]).astype(np.float32)[:, :, None]
    buffer = io.BytesIO()
    Image.fromarray(np.clip(lit, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=85)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB"), corners


def corner_error(found: np.ndarray, truth: np.ndarray, frame: tuple[int, int]) -> float:
    """Largest distance between found and true corners (matched as sets), as a fraction of the diagonal."""
    distances = np.linalg.norm(found[:, None, :] - truth[None, :, :], axis=2)
    return float(distances.min(axis=0).max() / math.hypot(*frame))


def _photo_jpeg(seed: int, index: int) -> tuple[bytes, np.ndarray]:
    """Photo number ``index`` of a run as JPEG bytes (made in a child process, so that making it does not
    count in this process's peak memory) and the page's true corners."""
    rng = np.random.default_rng([seed, index])
    frame = (4000, 3000) if index % 2 == 0 else (3000, 4000)
    photo, corners = synthetic_photo(Image.open(FORM).convert("RGB"), rng, frame=frame, area=rng.uniform(0.3, 0.6))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=95)
    return buffer.getvalue(), corners


def _reads_code(page: OcrPage) -> bool:
    truth = json.loads((REPO / "samples" / "truth" / "xiamen-new-scan.json").read_text(encoding="utf-8"))
    return any(truth["fields"]["org_code"] in box.text.replace(" ", "") for box in page.boxes)


def _ocr_comparison(photo: Image.Image, page: Image.Image) -> dict[str, object]:
    """One bare RapidOCR call on the raw 12 MP photo and one on its flat page: seconds, boxes, and whether
    the 统一社会信用代码 was read."""
    from pipeline.extract.ocr import get_engine

    engine = get_engine()
    engine.recognize(page.resize((200, 200)))  # loads the models outside the timing
    raw, flat = engine.recognize(photo), engine.recognize(page)
    return {
        "ocr_raw_photo_s": round(raw.seconds, 2),
        "ocr_raw_photo_boxes": len(raw.boxes),
        "ocr_raw_photo_reads_code": _reads_code(raw),
        "ocr_flat_page_s": round(flat.seconds, 2),
        "ocr_flat_page_boxes": len(flat.boxes),
        "ocr_flat_page_reads_code": _reads_code(flat),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-ocr", action="store_true", help="skip the two RapidOCR comparison calls")
    args = parser.parse_args()
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        made = pool.starmap(_photo_jpeg, [(args.seed, i) for i in range(args.photos)])
    wall, cpu, errors = [], [], []
    photo, result, rss_before = None, None, 0.0
    for jpeg, truth in made:
        photo = Image.open(io.BytesIO(jpeg)).convert("RGB")
        rss_before = rss_before or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start, start_cpu = time.perf_counter(), time.process_time()
        result = prepare_photo(photo)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        errors.append(1.0 if result is None else corner_error(result.quad, truth, photo.size))
        steps = "" if result is None else " ".join(f"{k} {v:.3f}" for k, v in result.seconds.items())
        print(f"prepare_photo {wall[-1]:.3f}s (cpu {cpu[-1]:.3f}s) corner error {errors[-1]:.4f} [{steps}]")
    report: dict[str, object] = {
        "photos": args.photos,
        "prepare_median_s": round(statistics.median(wall), 3),
        "prepare_max_s": round(max(wall), 3),
        "prepare_median_cpu_s": round(statistics.median(cpu), 3),
        "worst_corner_error": round(max(errors), 4),
        "rss_before_mib": round(rss_before, 1),  # imports and one decoded photo, before prepare_photo
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    if not args.no_ocr and photo is not None and result is not None:
        report |= _ocr_comparison(photo, result.image)
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
