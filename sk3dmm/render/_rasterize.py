"""A z-buffer rasterizer in plain torch: visibility by enumeration, gradients by interpolation.

Visibility (which triangle covers which pixel) is found without gradients: every triangle
lists the pixel centres in its bounding box, keeps those inside it, and a scatter-min on depth
per pixel picks the nearest. Then, for the winning triangles only, barycentric coordinates are
recomputed from the projected vertices with autograd on, so colours are differentiable with
respect to vertex positions, albedo and lighting inside triangles (not across silhouettes, as
in nvdiffrast without its antialiasing pass). Works batched, on CPU and CUDA.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Fragments:
    """Per-pixel rasterization result.

    Attributes
    ----------
    triangle_id : (b, h, w) long, -1 where no triangle covers the pixel
    bary : (b, h, w, 3) perspective-correct barycentric coordinates (differentiable)
    depth : (b, h, w) camera-space depth, +inf on background (differentiable)
    mask : (b, h, w) bool foreground
    """

    triangle_id: torch.Tensor
    bary: torch.Tensor
    depth: torch.Tensor
    mask: torch.Tensor


def _edge(ax, ay, bx, by, px, py):
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


@torch.no_grad()
def _visibility(screen: torch.Tensor, triangles: torch.Tensor, height: int, width: int, cull_backfaces: bool):
    """Nearest triangle per pixel: (b, h*w) long ids, -1 for background."""
    b = screen.shape[0]
    dev = screen.device
    tri = screen[:, triangles]  # (b, f, 3, 3): x, y, depth
    x, y, z = tri[..., 0], tri[..., 1], tri[..., 2]
    area = _edge(x[..., 0], y[..., 0], x[..., 1], y[..., 1], x[..., 2], y[..., 2])
    valid = (z > 1e-6).all(-1) & (area.abs() > 1e-12)
    if cull_backfaces:
        # outward (counter-clockwise) faces towards the camera have negative signed area in
        # (x, y-down) pixel coordinates
        valid &= area < 0
    # pixel centres are at integer + 0.5; bounding boxes in pixel indices, clipped
    x0 = (x.amin(-1) - 0.5).ceil().clamp(0, width).long()
    x1 = (x.amax(-1) - 0.5).floor().clamp(-1, width - 1).long()
    y0 = (y.amin(-1) - 0.5).ceil().clamp(0, height).long()
    y1 = (y.amax(-1) - 0.5).floor().clamp(-1, height - 1).long()
    bw, bh = (x1 - x0 + 1).clamp_min(0), (y1 - y0 + 1).clamp_min(0)
    count = torch.where(valid, bw * bh, 0).reshape(-1)
    total = int(count.sum())
    pix = torch.full((b * height * width,), -1, dtype=torch.long, device=dev)
    if total == 0:
        return pix.reshape(b, -1)
    flat = torch.repeat_interleave(torch.arange(count.numel(), device=dev), count)  # (batch*f) index
    start = torch.cumsum(count, 0) - count
    local = torch.arange(total, device=dev) - start[flat]
    bw_f, x0_f, y0_f = bw.reshape(-1)[flat], x0.reshape(-1)[flat], y0.reshape(-1)[flat]
    px = x0_f + local % bw_f.clamp_min(1)
    py = y0_f + local // bw_f.clamp_min(1)
    xs, ys, zs = x.reshape(-1, 3)[flat], y.reshape(-1, 3)[flat], z.reshape(-1, 3)[flat]
    cx, cy = px.to(screen.dtype) + 0.5, py.to(screen.dtype) + 0.5
    w0 = _edge(xs[:, 1], ys[:, 1], xs[:, 2], ys[:, 2], cx, cy)
    w1 = _edge(xs[:, 2], ys[:, 2], xs[:, 0], ys[:, 0], cx, cy)
    w2 = _edge(xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1], cx, cy)
    a = area.reshape(-1)[flat]
    inside = ((w0 * a >= 0) & (w1 * a >= 0) & (w2 * a >= 0)).nonzero()[:, 0]
    flat, px, py = flat[inside], px[inside], py[inside]
    l0, l1, l2 = w0[inside] / a[inside], w1[inside] / a[inside], w2[inside] / a[inside]
    zz = zs[inside]
    depth = 1.0 / (l0 / zz[:, 0] + l1 / zz[:, 1] + l2 / zz[:, 2])  # perspective-correct depth
    batch = flat // triangles.shape[0]
    pixel = (batch * height + py) * width + px
    zbuf = torch.full((b * height * width,), torch.inf, dtype=screen.dtype, device=dev)
    zbuf.scatter_reduce_(0, pixel, depth, reduce="amin")
    win = depth <= zbuf[pixel]
    # ties: the highest triangle index wins, deterministically
    pix.scatter_reduce_(0, pixel[win], (flat[win] % triangles.shape[0]), reduce="amax")
    return pix.reshape(b, -1)


def rasterize(
    screen: torch.Tensor, triangles: torch.Tensor, height: int, width: int, cull_backfaces: bool = True
) -> Fragments:
    """Rasterize projected meshes.

    Parameters
    ----------
    screen : (b, n, 3) vertex pixel x, pixel y (y down, pixel centres at +0.5) and
        camera-space depth (> 0 in front of the camera).
    triangles : (f, 3) long
    height, width : image size in pixels
    cull_backfaces : bool, default=True
        Skip triangles whose outward side faces away from the camera (counter-clockwise
        winding seen from outside).

    Returns
    -------
    Fragments
    """
    b = screen.shape[0]
    ids = _visibility(screen, triangles, height, width, cull_backfaces)  # (b, h*w)
    mask = ids >= 0
    tid = ids.clamp_min(0)
    corner = triangles[tid]  # (b, p, 3) vertex indices
    v = torch.gather(screen, 1, corner.reshape(b, -1, 1).expand(-1, -1, 3)).reshape(b, -1, 3, 3)
    pidx = torch.arange(height * width, device=screen.device)
    cx = (pidx % width).to(screen.dtype) + 0.5
    cy = (pidx // width).to(screen.dtype) + 0.5
    xs, ys, zs = v[..., 0], v[..., 1], v[..., 2]
    area = _edge(xs[..., 0], ys[..., 0], xs[..., 1], ys[..., 1], xs[..., 2], ys[..., 2])
    area = torch.where(mask, area, torch.ones_like(area))
    l0 = _edge(xs[..., 1], ys[..., 1], xs[..., 2], ys[..., 2], cx, cy) / area
    l1 = _edge(xs[..., 2], ys[..., 2], xs[..., 0], ys[..., 0], cx, cy) / area
    l2 = 1.0 - l0 - l1
    screen_bary = torch.stack([l0, l1, l2], -1)
    inv_z = screen_bary / torch.where(mask[..., None], zs, torch.ones_like(zs))
    norm = inv_z.sum(-1, keepdim=True)
    bary = torch.where(mask[..., None], inv_z / norm, torch.zeros_like(inv_z))
    depth = torch.where(mask, 1.0 / norm[..., 0], torch.full_like(norm[..., 0], torch.inf))
    return Fragments(
        triangle_id=torch.where(mask, ids, -1).reshape(b, height, width),
        bary=bary.reshape(b, height, width, 3),
        depth=depth.reshape(b, height, width),
        mask=mask.reshape(b, height, width),
    )


def interpolate(attributes: torch.Tensor, triangles: torch.Tensor, fragments: Fragments) -> torch.Tensor:
    """Interpolate per-vertex attributes (b, n, c) to pixels (b, h, w, c); zero on background."""
    b, h, w = fragments.triangle_id.shape
    tid = fragments.triangle_id.reshape(b, -1).clamp_min(0)
    corner = triangles[tid]  # (b, p, 3)
    c = attributes.shape[-1]
    vals = torch.gather(attributes, 1, corner.reshape(b, -1, 1).expand(-1, -1, c)).reshape(b, -1, 3, c)
    out = (vals * fragments.bary.reshape(b, -1, 3, 1)).sum(2)
    return out.reshape(b, h, w, c)
