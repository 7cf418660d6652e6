"""A phone photo of a page made into a flat, upright scan, so it can be read like one.

Applicants photograph pages lying on a desk: a 12-megapixel frame, the page in perspective and a fraction of
it, the rest wood or cloth, the light uneven (gradient, vignette, soft shadow).  The OCR and the ruling-line
search (gridlines.py) expect a flat page at about 200 dpi, so the page is found and warped flat first:

1. ``looks_like_photo``: on a small copy, a frame whose outer ring is mostly not paper (the desk) while
   paper fills the middle.  A scan's paper reaches its edges (a slightly rotated one has only thin dark
   wedges there), so it is left alone.
2. ``find_page_quad``: paper is bright *and* colourless, i.e. its smallest RGB channel is high (Otsu),
   which brown wood and coloured cloth are not.  The largest such blob, eroded, seeds a watershed against
   the frame's border (the desk): the floods meet at the page's edge even where a shadow or the vignette
   made part of the page darker than the desk.  The outline is reduced to 4 corners, each side refitted
   as a straight line through the outline points, to a pixel or two of the small copy.
3. ``rectify``: one perspective warp of the full-resolution photo to a rectangle of the page's true aspect
   ratio (undone from the perspective with a phone's focal length, then snapped to A4's or an ID card's).
4. ``flatten_light``: each channel divided by its own background (a max filter wider than any character,
   on a small copy), so paper becomes white, ink stays dark, red seals stay red and thin ruling lines keep
   their contrast.

Detection runs on copies of at most 1000 px; only the warp touches the full frame.  Nothing here turns the
page by 90 or 180 degrees: the caller already tries orientations by OCR quality.  ``flat_page`` is what the
extract stage calls: a photo whose page is not found (a corner off the frame, an edge lost against a pale desk)
is turned so that its text runs level (``images.text_skew``) and its light flattened, not read as a tilted scan.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from pipeline.extract.images import scale_for_ocr, straighten

SMALL_SIDE = 1000  # long side of the copy that detection runs on
MIN_PHOTO_SIDE = 1000  # long side (and twice the short side) below which an image is no phone photo
RING = 0.05  # depth of the outer ring looked at, as a fraction of the small copy's long side
RING_DESK = 0.55  # fraction of that ring that must be non-paper for a photo
SEED_SATURATION = 0.1  # sure paper: saturation at most this above the bright part's median
CENTRE_PAPER = 0.5  # fraction of the central region that must be paper for a photo
MIN_QUAD_AREA = 0.15  # of the frame: a smaller "page" is a stray bright object
MAX_QUAD_AREA = 0.9  # of the frame: a larger one is the frame itself (a page would leave no desk)
SIDE_PROBE = 0.012  # how far inside and outside each side of a found quad its contrast is probed
MIN_SIDE_CONTRAST = 1.15  # the page must be this much whiter than the desk just outside, on every side
MIN_SEED_AREA = 0.05  # of the frame: the surest paper, eroded, must still be this large
A4_LONG, A4_SHORT = 297.0, 210.0
ID_CARD_LONG, ID_CARD_SHORT = 85.6, 54.0
SNAP_RATIOS = (A4_LONG / A4_SHORT, ID_CARD_LONG / ID_CARD_SHORT)  # A-series pages (√2) and ID cards
SNAP_TOLERANCE = 0.06  # a measured aspect ratio this close to a known one is taken to be it
FOCAL = 0.8  # a phone's main camera: focal length ≈ 0.7-0.85 of the frame's long side, in pixels
MAX_UPSCALE = 2.0  # a small card is not blown up more than this
BACKGROUND_STEP = 8  # the light's background is estimated on a copy this many times smaller
PAPER_LEVEL = 0.96  # flattened paper ends at this fraction of white (ink = what is darker than its paper)


@dataclass(frozen=True)
class PhotoResult:
    image: Image.Image  # the flat page, portrait or landscape as photographed
    quad: np.ndarray  # the page's corners in the photo (tl, tr, br, bl), float32, full-resolution pixels
    seconds: dict[str, float]  # "detect", "rectify", "flatten", "total"


@dataclass(frozen=True)
class _Small:
    rgb: np.ndarray  # the downscaled photo, smoothed, RGB uint8
    scale: float  # full-resolution pixels per small pixel
    paper: np.ndarray  # uint8 mask (255: paper-like) of the small copy


def _small(img: Image.Image) -> _Small:
    """A copy of at most SMALL_SIDE px (PIL's box reduction: no full-resolution array is made) and its paper
    mask: the smallest channel, smoothed, above an Otsu threshold."""
    rgb_img = img if img.mode == "RGB" else img.convert("RGB")
    factor = max(1, math.ceil(max(img.size) / SMALL_SIDE))
    if factor > 1:
        rgb_img = rgb_img.reduce(factor)
    rgb = cv2.GaussianBlur(np.asarray(rgb_img), (5, 5), 0)
    red, green, blue = cv2.split(rgb)
    whiteness = cv2.min(cv2.min(red, green), blue)
    paper = cv2.threshold(whiteness, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1]
    return _Small(rgb, img.width / rgb.shape[1], paper)


def _looks_like_photo(small: _Small) -> bool:
    height, width = small.paper.shape
    if min(height, width) * small.scale < MIN_PHOTO_SIDE / 2 or max(height, width) * small.scale < MIN_PHOTO_SIDE:
        return False
    depth = max(2, round(RING * max(height, width)))
    inner = small.paper[depth:-depth, depth:-depth]
    ring_paper = int(np.count_nonzero(small.paper)) - int(np.count_nonzero(inner))
    ring_area = small.paper.size - inner.size
    if 1 - ring_paper / ring_area < RING_DESK:
        return False  # paper (or a white desk) reaches the edges: a scan
    cy, cx, qy, qx = height // 2, width // 2, height // 8, width // 8
    centre = small.paper[cy - qy : cy + qy, cx - qx : cx + qx]
    if np.count_nonzero(centre) >= CENTRE_PAPER * centre.size:
        return True
    # a page off to one side of the frame (photographed in a corner of the desk): one page-sized paper blob
    blob = _largest_blob((small.paper > 0).astype(np.uint8))
    return bool(np.count_nonzero(blob) >= MIN_QUAD_AREA * small.paper.size)


def looks_like_photo(img: Image.Image) -> bool:
    """True for a page-sized photo with a non-paper border (a desk around the page); False for a scan."""
    return _looks_like_photo(_small(img))


def _largest_blob(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a binary mask, as a 0/255 mask (all zero when there is none)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n < 2:
        return np.zeros_like(mask)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return np.where(labels == biggest, 255, 0).astype(np.uint8)


def _paper_seed(small: _Small) -> np.ndarray:
    """The surest paper as a 0/255 mask: bright, about as colourless as the bright part is, ink closed over,
    eroded well inside the page's outline, the largest blob of that."""
    bright = small.paper > 0
    if not bright.any():
        return np.zeros_like(small.paper)
    saturation = cv2.cvtColor(small.rgb, cv2.COLOR_RGB2HSV)[:, :, 1]  # (max - min) / max, 0..255
    colourless = saturation <= float(np.median(saturation[bright])) + 255 * SEED_SATURATION
    unit = max(3, round(max(small.paper.shape) / 150))
    sure = (bright & colourless).astype(np.uint8) * 255
    closed = cv2.morphologyEx(sure, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (unit, unit)))
    return _largest_blob(cv2.erode(closed, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3 * unit, 3 * unit))))


def _page_mask(small: _Small) -> np.ndarray:
    """The page as a 0/255 mask: the paper seed and the frame's border (the desk) grown by a watershed.  The
    two floods meet at the strongest edge between them, which is the page's outline even where a shadow or
    the vignette has made part of the page darker than the desk elsewhere (a threshold would cut it off)."""
    seed = _paper_seed(small)
    if np.count_nonzero(seed) < MIN_SEED_AREA * seed.size:
        return np.zeros_like(seed)  # no sizeable paper: texture, a white desk, clutter
    border = np.ones(seed.shape, bool)
    border[2:-2, 2:-2] = False
    markers = np.zeros(seed.shape, np.int32)
    markers[border & (small.paper == 0)] = 1  # desk: the frame's border, except where the page reaches it
    markers[seed > 0] = 2  # paper
    cv2.watershed(np.ascontiguousarray(small.rgb[:, :, ::-1]), markers)
    return np.where(markers == 2, 255, 0).astype(np.uint8)


def _page_outline(mask: np.ndarray) -> np.ndarray | None:
    """Outline points (N x 2) of the page mask's largest blob, or None when it is too small for a page."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    largest = max(contours, key=cv2.contourArea)
    if cv2.contourArea(largest) < MIN_QUAD_AREA * mask.size:
        return None
    return largest.reshape(-1, 2)


def _four_corners(outline: np.ndarray) -> np.ndarray | None:
    """The outline's convex hull reduced to 4 corners by approxPolyDP (loosening until it gives 4)."""
    hull = cv2.convexHull(outline.astype(np.int32))
    perimeter = cv2.arcLength(hull, True)
    for eps in (0.01, 0.02, 0.03, 0.05, 0.08):
        approx = cv2.approxPolyDP(hull, eps * perimeter, True)
        if len(approx) == 4:
            return approx.reshape(4, 2).astype(np.float32)
        if len(approx) < 4:
            break
    return None


def _order(corners: np.ndarray) -> np.ndarray:
    """Corners clockwise on screen from the top-left one (smallest x + y): tl, tr, br, bl."""
    centre = corners.mean(axis=0)
    angles = np.arctan2(corners[:, 1] - centre[1], corners[:, 0] - centre[0])
    ring = corners[np.argsort(angles)]
    start = int(np.argmin(ring.sum(axis=1)))
    return np.roll(ring, -start, axis=0).astype(np.float32)


def _refit_sides(corners: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """Corners as intersections of lines fitted to the outline points along each side (robust to rounded or
    clipped corners); a side with too few points keeps its approximate corners."""
    points = outline.astype(np.float32)
    lines: list[tuple[np.ndarray, np.ndarray] | None] = []
    for i in range(4):
        a, b = corners[i], corners[(i + 1) % 4]
        length = float(np.linalg.norm(b - a))
        direction = (b - a) / max(length, 1e-6)
        rel = points - a
        along = rel @ direction
        across = np.abs(rel[:, 0] * direction[1] - rel[:, 1] * direction[0])
        near = (along > 0.1 * length) & (along < 0.9 * length) & (across < max(3.0, 0.02 * length))
        if np.count_nonzero(near) < 10:
            lines.append(None)
            continue
        vx, vy, x0, y0 = cv2.fitLine(points[near], cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        lines.append((np.array([x0, y0], np.float32), np.array([vx, vy], np.float32)))
    refined = corners.copy()
    for i in range(4):
        before, after = lines[(i - 1) % 4], lines[i]
        if before is None or after is None:
            continue
        point = _intersect(before, after)
        if point is not None and np.linalg.norm(point - corners[i]) < 0.1 * float(np.ptp(outline, axis=0).max()):
            refined[i] = point
    return refined


def _intersect(first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray]) -> np.ndarray | None:
    (p, r), (q, s) = first, second
    cross = float(r[0] * s[1] - r[1] * s[0])
    if abs(cross) < 1e-6:
        return None
    t = float((q[0] - p[0]) * s[1] - (q[1] - p[1]) * s[0]) / cross
    return (p + t * r).astype(np.float32)


def _find_quad(small: _Small) -> np.ndarray | None:
    outline = _page_outline(_page_mask(small))
    quad = None if outline is None else _region_quad(small, outline)
    if quad is None:
        quad = _edge_quad(small)  # a pale desk the paper mask cannot tell from the page: its edges still can
    if quad is None and outline is not None:
        quad = _straight_quad(small, outline)
    if quad is None:
        return None
    return ((quad + 0.5) * small.scale - 0.5).astype(np.float32)  # small pixel centres to full-resolution


def _acceptable(small: _Small, quad: np.ndarray) -> bool:
    """Convex, page-sized, and clearly whiter inside than outside on every side."""
    if not cv2.isContourConvex(quad.reshape(-1, 1, 2)):
        return False
    if not MIN_QUAD_AREA * small.paper.size <= cv2.contourArea(quad) <= MAX_QUAD_AREA * small.paper.size:
        return False
    return _sides_contrast(small, quad) >= MIN_SIDE_CONTRAST  # else better the usual path than a wrong warp


def _region_quad(small: _Small, outline: np.ndarray) -> np.ndarray | None:
    corners = _four_corners(outline)
    if corners is None:
        rect = cv2.minAreaRect(outline.astype(np.float32))
        corners = cv2.boxPoints(rect).astype(np.float32)
    quad = _refit_sides(_order(corners), outline)
    return quad if _acceptable(small, quad) else None


HOUGH_VOTES = 0.08  # outline pixels on a line, as a share of the small copy's long side, for it to be a side
SIDE_APART = 0.2  # two sides of one direction lie at least this share of the frame's short side apart


def _straight_quad(small: _Small, outline: np.ndarray) -> np.ndarray | None:
    """The page mask's quadrilateral of its outline's strongest straight lines (Hough), when acceptable: the
    two strongest of the lines nearer horizontal and the two of those nearer vertical that lie apart,
    intersected.  The paper flooded into a bright patch of a pale desk (the light's bright spot) pulls the
    outline's hull out there, and a side fitted between its corners crosses desk on both sides (a form
    photographed on a pale desk, page whiter by 1.16, read as a scan and lost); the page's true edges are
    still the outline's long straight runs, and a ragged bulge has none as long.  The frame's own border is
    no side: where the paper mask runs along it the outline is not drawn."""
    height, width = shape = small.paper.shape
    canvas = np.zeros((height, width), np.uint8)
    cv2.polylines(canvas, [outline.reshape(-1, 1, 2).astype(np.int32)], True, 255, 1)
    canvas[:2], canvas[-2:], canvas[:, :2], canvas[:, -2:] = 0, 0, 0, 0
    found = cv2.HoughLines(canvas, 1, np.pi / 360, max(20, int(HOUGH_VOTES * max(height, width))))
    if found is None:
        return None
    lines = [(float(rho), float(theta)) for rho, theta in found.reshape(-1, 2)]  # strongest first
    centre = (width / 2, height / 2)
    rows = _two_apart([ln for ln in lines if abs(ln[1] - np.pi / 2) < np.pi / 4], centre, SIDE_APART * min(shape))
    columns = _two_apart([ln for ln in lines if abs(ln[1] - np.pi / 2) >= np.pi / 4], centre, SIDE_APART * min(shape))
    if rows is None or columns is None:
        return None
    corners = [_meet(row, column) for row in rows for column in columns]
    if any(c is None for c in corners):
        return None
    quad = _order(np.array(corners, np.float32))
    return quad if _acceptable(small, quad) else None


def _offset(line: tuple[float, float], point: tuple[float, float]) -> float:
    """Signed distance of ``point`` from a (rho, theta) line."""
    rho, theta = line
    return point[0] * math.cos(theta) + point[1] * math.sin(theta) - rho


def _two_apart(
    lines: list[tuple[float, float]], centre: tuple[float, float], apart: float
) -> list[tuple[float, float]] | None:
    """The strongest line and the strongest after it lying ``apart`` from it at the frame's centre (the same
    edge's nearby lines are skipped), or None."""
    if not lines:
        return None
    first = lines[0]
    across = _offset(first, centre)
    for line in lines[1:]:
        other = _offset(line, centre) * (1 if math.cos(first[1] - line[1]) >= 0 else -1)
        if abs(across - other) > apart:
            return [first, line]
    return None


def _meet(first: tuple[float, float], second: tuple[float, float]) -> tuple[float, float] | None:
    """Where two (rho, theta) lines cross, or None when they are (nearly) parallel."""
    matrix = np.array([[math.cos(first[1]), math.sin(first[1])], [math.cos(second[1]), math.sin(second[1])]])
    if abs(float(np.linalg.det(matrix))) < 1e-6:
        return None
    x, y = np.linalg.solve(matrix, np.array([first[0], second[0]]))
    return float(x), float(y)


def _edge_quad(small: _Small) -> np.ndarray | None:
    """The largest acceptable 4-cornered outline among the edges of the small copy (Canny, closed gaps)."""
    grey = cv2.cvtColor(small.rgb, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(grey, 30, 90)
    edges = cv2.dilate(edges, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)), iterations=2)
    contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    best: np.ndarray | None = None
    best_area = 0.0
    for contour in contours:
        if cv2.contourArea(contour) < MIN_QUAD_AREA * small.paper.size:
            continue
        corners = _four_corners(contour.reshape(-1, 2))
        if corners is None:
            continue
        quad = _refit_sides(_order(corners), contour.reshape(-1, 2))
        area = float(cv2.contourArea(quad))
        if area > best_area and _acceptable(small, quad):
            best, best_area = quad, area
    return best


def _sides_contrast(small: _Small, quad: np.ndarray) -> float:
    """The weakest side's contrast: for each side of ``quad`` (small-copy pixels), the median ratio of the
    whiteness just inside it to that just outside.  A page on a desk is clearly whiter on every side; a
    quad cut through the page, or through a desk nearly as pale as the paper, is not."""
    red, green, blue = cv2.split(small.rgb)
    whiteness = cv2.min(cv2.min(red, green), blue).astype(np.float32) + 1
    height, width = whiteness.shape
    step = max(2.0, SIDE_PROBE * max(height, width))
    centre = quad.mean(axis=0)
    weakest = math.inf
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        points = a + np.linspace(0.1, 0.9, 24)[:, None] * (b - a)
        normal = np.array([b[1] - a[1], a[0] - b[0]], np.float32)
        normal /= max(float(np.linalg.norm(normal)), 1e-6)
        if np.dot(points.mean(axis=0) - centre, normal) < 0:
            normal = -normal  # pointing out of the page
        inside, outside = _sample(whiteness, points - step * normal), _sample(whiteness, points + step * normal)
        keep = ~np.isnan(outside)  # a side along the frame's edge has no outside to look at
        if np.count_nonzero(keep) >= 6:
            weakest = min(weakest, float(np.median(inside[keep] / outside[keep])))
    return weakest


def _sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Values of ``image`` at (x, y) points (nearest pixel), NaN outside it."""
    xs, ys = np.round(points[:, 0]).astype(int), np.round(points[:, 1]).astype(int)
    inside = (xs >= 0) & (ys >= 0) & (xs < image.shape[1]) & (ys < image.shape[0])
    values = np.full(len(points), np.nan, np.float32)
    values[inside] = image[ys[inside], xs[inside]]
    return values


def find_page_quad(img: Image.Image) -> np.ndarray | None:
    """The page's corners (tl, tr, br, bl; float32, full-resolution pixels), or None when no page-like
    convex quadrilateral covering MIN_QUAD_AREA to MAX_QUAD_AREA of the frame is found."""
    return _find_quad(_small(img))


def _side_lengths(quad: np.ndarray) -> tuple[float, float]:
    """Mean width (top, bottom) and mean height (left, right) of the quadrilateral, in pixels."""
    tl, tr, br, bl = quad
    width = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    height = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    return float(width), float(height)


def _true_aspect(quad: np.ndarray, frame: tuple[int, int]) -> float | None:
    """Width / height of the photographed rectangle, the perspective undone (Zhang & He, "whiteboard
    scanning"): the focal length is estimated from the quad, or a phone's when that is ill-conditioned."""
    width, height = frame
    centre = np.array([width / 2, height / 2], np.float64)
    tl, tr, br, bl = (np.append(p - centre, 1.0) for p in quad.astype(np.float64))
    k2 = np.dot(np.cross(tl, br), bl) / np.dot(np.cross(tr, br), bl)
    k3 = np.dot(np.cross(tl, br), tr) / np.dot(np.cross(bl, br), tr)
    n2, n3 = k2 * tr - tl, k3 * bl - tl
    prior = FOCAL * max(width, height)
    focal2 = prior * prior
    if abs(n2[2] * n3[2]) > 1e-9:
        estimate = -(n2[0] * n3[0] + n2[1] * n3[1]) / (n2[2] * n3[2])
        if (0.4 * prior) ** 2 < estimate < (2.5 * prior) ** 2:
            focal2 = estimate
    weights = np.array([1 / focal2, 1 / focal2, 1.0])
    num, den = float(np.sum(n2 * n2 * weights)), float(np.sum(n3 * n3 * weights))
    if num <= 0 or den <= 0:
        return None
    return math.sqrt(num / den)


def _snap(aspect: float) -> float:
    """A measured width / height replaced by a known page's when close to it (either orientation)."""
    for ratio in SNAP_RATIOS:
        for known in (ratio, 1 / ratio):
            if abs(aspect / known - 1) < SNAP_TOLERANCE:
                return known
    return aspect


def output_size(quad: np.ndarray, frame: tuple[int, int], target_long_side: int = 2339) -> tuple[int, int]:
    """(width, height) of the flat page: the quad's true aspect ratio, long side ``target_long_side`` or, for
    a page photographed small (a card), at most MAX_UPSCALE times its size in the photo."""
    width, height = _side_lengths(quad)
    aspect = _true_aspect(quad, frame) or width / max(height, 1.0)
    aspect = _snap(aspect)
    long_side = min(float(target_long_side), MAX_UPSCALE * max(width, height))
    if aspect >= 1:
        return round(long_side), round(long_side / aspect)
    return round(long_side * aspect), round(long_side)


def _crop_to(img: Image.Image, quad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The part of ``img`` around ``quad`` as an RGB array, and the quad in its coordinates: the rest of a
    12-megapixel photo (the desk) is never converted."""
    x0, y0 = np.floor(quad.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 3
    box = (max(0, int(x0)), max(0, int(y0)), min(img.width, int(x1)), min(img.height, int(y1)))
    part = img.crop(box)
    rgb = np.asarray(part if part.mode == "RGB" else part.convert("RGB"))
    return rgb, (quad - np.array(box[:2], np.float32)).astype(np.float32)


def rectify(img: Image.Image, quad: np.ndarray, target_long_side: int = 2339) -> Image.Image:
    """The quadrilateral ``quad`` (tl, tr, br, bl) of ``img`` warped flat to a rectangle of its true aspect
    ratio (A4: 1654 x 2339 at the default size).  A page much larger in the photo than its output is first
    shrunk with area averaging, so thin lines survive the warp."""
    size = output_size(quad, img.size, target_long_side)
    rgb, quad = _crop_to(img, quad.astype(np.float32))
    shrink = max(size) / max(_side_lengths(quad))
    if shrink < 0.75:
        rgb = cv2.resize(rgb, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
        quad = ((quad + 0.5) * np.float32(shrink) - 0.5).astype(np.float32)
    width, height = size
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    matrix = cv2.getPerspectiveTransform(quad, target)
    flat = cv2.warpPerspective(rgb, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return Image.fromarray(flat)


def flatten_light(img: Image.Image) -> Image.Image:
    """Uneven light removed: each channel divided by its background (a max filter wider than a character,
    on a copy BACKGROUND_STEP times smaller, then smoothed), so paper turns white and ink keeps its colour."""
    rgb = np.asarray(img if img.mode == "RGB" else img.convert("RGB"))
    height, width = rgb.shape[:2]
    small = cv2.resize(
        rgb,
        (max(1, width // BACKGROUND_STEP), max(1, height // BACKGROUND_STEP)),
        interpolation=cv2.INTER_LINEAR,  # sampling is enough: the max filter below removes what it hits of ink
    )
    size = max(5, round(max(height, width) / BACKGROUND_STEP / 25)) | 1  # ~ 90 px on an A4 page at 200 dpi
    background = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (size, size)))
    background = cv2.GaussianBlur(background, (0, 0), size)
    background = np.maximum(cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR), 1)
    flat = cv2.divide(rgb, background, scale=255 * PAPER_LEVEL)
    return Image.fromarray(flat)


def prepare_photo(img: Image.Image, target_long_side: int = 2339) -> PhotoResult | None:
    """The photographed page flattened, or None when ``img`` is no photo of a page or no page was found
    (the caller then takes its usual path)."""
    start = time.perf_counter()
    small = _small(img)
    return _prepared(img, small, target_long_side, start) if _looks_like_photo(small) else None


def flat_page(img: Image.Image) -> Image.Image:
    """The image as the OCR should see it: a photo's page flattened (``prepare_photo``); a photo whose page was
    not found — its edges off the frame, or lost against a pale desk — turned so that its text runs level (the
    rule-based deskew of a scan finds no rules tilted by 6°: a landscape invoice photographed large, read
    tilted, took the title into the buyer's name); a scan as it is."""
    start = time.perf_counter()
    small = _small(img)
    if not _looks_like_photo(small):
        return img
    found = _prepared(img, small, 2339, start)
    # reduced to the OCR's size first, as the scan path reduces it: 0.13 s instead of 0.5 s on a 12-MP frame
    return found.image if found is not None else flatten_light(straighten(scale_for_ocr(img)))


def _prepared(img: Image.Image, small: _Small, target_long_side: int, start: float) -> PhotoResult | None:
    quad = _find_quad(small)
    if quad is None:
        return None
    detected = time.perf_counter()
    page = rectify(img, quad, target_long_side)
    rectified = time.perf_counter()
    page = flatten_light(page)
    done = time.perf_counter()
    seconds = {
        "detect": detected - start,
        "rectify": rectified - detected,
        "flatten": done - rectified,
        "total": done - start,
    }
    return PhotoResult(page, quad, seconds)
