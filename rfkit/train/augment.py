"""A recipe's transforms, two ways: torchvision's own (PIL, per sample: the
reference) and a batched version on the device that reproduces them.

The batched version reads its parameters from the very torchvision objects the
recipe builds, draws the same distributions (one set per sample, unlike
torchvision.transforms.v2 which draws one per batch), and resamples exactly as
Pillow does for NEAREST: its affine transform runs in 16.16 fixed point
(`FIX(v) = floor(v * 65536 + 0.5)`, source pixel `xx >> 16`), which integer
arithmetic on the device reproduces pixel for pixel.

A recipe may start with steps that depend on the image alone (CenterCrop, Resize, and
RandomApply of those, as the course's S5 code's `RandomApply([CenterCrop(22)], p=0.1),
Resize((28, 28))`): torchvision itself runs them once per image, with and without the
RandomApply, and each sample then draws which of the two it gets.
"""
from __future__ import annotations

import torch
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from rfkit.errors import RfkitError

_NAMESPACE = {name: getattr(T, name) for name in dir(T) if not name.startswith("_")}
_NAMESPACE["InterpolationMode"] = InterpolationMode


def build(specs: tuple[str, ...]) -> list:
    """torchvision transform objects from a card's strings, e.g. "RandomAffine(degrees=15)"."""
    out = []
    for spec in specs:
        try:
            out.append(eval(spec, {"__builtins__": {}}, _NAMESPACE))  # card strings only: our own data
        except Exception as exc:
            raise RfkitError(f"cannot build transform {spec!r}: {exc}") from None
    return out


def torchvision_pipeline(specs: tuple[str, ...]) -> T.Compose:
    return T.Compose(build(specs))


def _fill(fill, channels: int) -> torch.Tensor:
    values = [0] * channels if fill is None else list(fill) if isinstance(fill, (list, tuple)) else [fill] * channels
    if len(values) == 1:
        values = values * channels
    return torch.tensor([int(v) for v in values], dtype=torch.uint8)


def pil_affine_nearest(images: torch.Tensor, matrix: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """Pillow's NEAREST affine transform on a uint8 batch (N, C, H, W).

    `matrix` (N, 6) maps output to input coordinates, (a, b, c, d, e, f):
    x_in = a x + b y + c, y_in = d x + e y + f, as `Image.transform(AFFINE)`.
    """
    n, c, h, w = images.shape
    device = images.device
    m = matrix.to(device=device, dtype=torch.float64)
    coefficients = torch.stack([m[:, 0], m[:, 1], m[:, 2] + m[:, 0] * 0.5 + m[:, 1] * 0.5,
                                m[:, 3], m[:, 4], m[:, 5] + m[:, 3] * 0.5 + m[:, 4] * 0.5], 1)
    # Pillow's 16.16 fixed point in C ints: int32 here too, wrapping as they do
    a0, a1, a2, a3, a4, a5 = torch.floor(coefficients * 65536.0 + 0.5).to(torch.int32).view(n, 6, 1, 1).unbind(1)
    x = torch.arange(w, device=device, dtype=torch.int32).view(1, 1, w)
    y = torch.arange(h, device=device, dtype=torch.int32).view(1, h, 1)
    # Coordinates outside the image land on a one-pixel frame of `fill`, so one gather does all.
    xin = ((a2 + y * a1 + x * a0) >> 16).clamp_(-1, w).add_(1)  # an arithmetic shift floors, as Pillow's
    yin = ((a5 + y * a4 + x * a3) >> 16).clamp_(-1, h).add_(1)  # fixed point does
    framed = fill.to(device).view(1, c, 1, 1).expand(n, c, h + 2, w + 2).clone()
    framed[:, :, 1:-1, 1:-1] = images
    index = yin.mul_(w + 2).add_(xin).to(torch.int64).view(n, 1, h * w).expand(n, c, h * w)
    return framed.view(n, c, -1).gather(2, index).view(n, c, h, w)


def rotation_matrix(angle: torch.Tensor, w: int, h: int) -> torch.Tensor:
    """`Image.rotate(angle)`'s matrix (counter-clockwise degrees, about (w/2, h/2), cos/sin rounded to 1e-15)."""
    rad = -torch.deg2rad(angle.to(torch.float64))
    cos, sin = torch.round(torch.cos(rad), decimals=15), torch.round(torch.sin(rad), decimals=15)
    cx, cy = w / 2, h / 2
    c = cos * -cx + sin * -cy + cx
    f = -sin * -cx + cos * -cy + cy
    return torch.stack([cos, sin, c, -sin, cos, f], dim=1)


def inverse_affine_matrix(angle, tx, ty, scale, shear_x, shear_y, w: int, h: int) -> torch.Tensor:
    """torchvision's `_get_inverse_affine_matrix` (clockwise angle, centre (w/2, h/2)), batched."""
    rot = torch.deg2rad(angle.to(torch.float64))
    sx, sy = torch.deg2rad(shear_x.to(torch.float64)), torch.deg2rad(shear_y.to(torch.float64))
    cx, cy = w * 0.5, h * 0.5
    a = torch.cos(rot - sy) / torch.cos(sy)
    b = -torch.cos(rot - sy) * torch.tan(sx) / torch.cos(sy) - torch.sin(rot)
    c = torch.sin(rot - sy) / torch.cos(sy)
    d = -torch.sin(rot - sy) * torch.tan(sx) / torch.cos(sy) + torch.cos(rot)
    scale = scale.to(torch.float64)
    m0, m1, m3, m4 = d / scale, -b / scale, -c / scale, a / scale
    tx, ty = tx.to(torch.float64), ty.to(torch.float64)
    m2 = m0 * (-cx - tx) + m1 * (-cy - ty) + cx
    m5 = m3 * (-cx - tx) + m4 * (-cy - ty) + cy
    return torch.stack([m0, m1, m2, m3, m4, m5], dim=1)


def _uniform(n: int, low: float, high: float, gen: torch.Generator, device) -> torch.Tensor:
    """float32 draws, as torchvision's `torch.empty(1).uniform_(low, high)`."""
    return torch.empty(n, device=device).uniform_(float(low), float(high), generator=gen)


PER_IMAGE = (T.CenterCrop, T.Resize)  # no random parameter: the same output for the same image


def _leading_per_image_steps(steps: list) -> tuple[list, T.RandomApply | None]:
    """The recipe's first steps that depend on the image alone, and the one RandomApply among them."""
    prefix, chance = [], None
    for step in steps:
        if isinstance(step, T.RandomApply) and chance is None and all(isinstance(t, PER_IMAGE)
                                                                      for t in step.transforms):
            chance = step
        elif not isinstance(step, PER_IMAGE):
            break
        prefix.append(step)
    for step in steps[len(prefix):]:
        if isinstance(step, (T.RandomApply, *PER_IMAGE)):
            raise RfkitError(f"the fast loader reproduces CenterCrop, Resize and one RandomApply holding only "
                             f"those as a recipe's first steps, which this {type(step).__name__} is not; "
                             f"use --loader torchvision")
    return prefix, chance


class DeviceAugment:
    """The recipe's transforms on a uint8 batch already on the device, parameters drawn per sample."""

    SUPPORTED = (T.RandomRotation, T.RandomAffine, T.RandomCrop, T.RandomHorizontalFlip, T.ToTensor,
                 T.Normalize)

    def __init__(self, specs: tuple[str, ...]):
        steps = build(specs)
        self.prefix, self.chance = _leading_per_image_steps(steps)
        self.steps = steps[len(self.prefix):]
        for step in self.steps:
            if not isinstance(step, self.SUPPORTED):
                raise RfkitError(f"the fast loader cannot reproduce {type(step).__name__}; use --loader torchvision")
            interpolation = getattr(step, "interpolation", InterpolationMode.NEAREST)
            if interpolation != InterpolationMode.NEAREST:
                raise RfkitError(f"the fast loader reproduces NEAREST resampling only ({type(step).__name__} uses "
                                 f"{interpolation.value}); use --loader torchvision")
            if getattr(step, "center", None) is not None or getattr(step, "expand", False):
                raise RfkitError(f"the fast loader does not support {type(step).__name__} with center/expand")

    def variants(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) -> (V, N, C, H', W'): the recipe's leading per-image steps, run by
        torchvision on each image (so pixel for pixel as the torchvision loader), without (0) and
        with (1) its RandomApply; V = 1 without one. Once per data set, not per batch."""
        if not self.prefix:
            return images.unsqueeze(0)
        cases = [[t for t in self.prefix if t is not self.chance]]
        if self.chance is not None:
            cases.append([u for t in self.prefix for u in (t.transforms if t is self.chance else [t])])
        pil = [TF.to_pil_image(image) for image in images.cpu()]
        made = [torch.stack([TF.pil_to_tensor(T.Compose(case)(p)) for p in pil]) for case in cases]
        if any(m.shape != made[0].shape for m in made):
            raise RfkitError("the fast loader needs RandomApply's branches to give one image size (end the "
                             "recipe's first steps with a Resize); use --loader torchvision")
        return torch.stack(made).to(images.device)

    def __call__(self, images: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        """uint8 (N, C, H, W), or (V, N, C, H, W) from `variants`, -> float32, normalised. `gen` None
        means no random step (evaluation, and RandomApply's branch not taken)."""
        options = self.variants(images) if images.dim() == 4 else images
        x = options[0]
        if gen is not None and len(options) > 1:
            taken = torch.rand(x.shape[0], device=x.device, generator=gen) < self.chance.p
            x = torch.where(taken.view(-1, 1, 1, 1), options[1], x)
        out = None
        for step in self.steps:
            if isinstance(step, T.ToTensor):
                out = x.float().div(255)
            elif isinstance(step, T.Normalize):
                mean = torch.as_tensor(step.mean, dtype=out.dtype, device=out.device).view(-1, 1, 1)
                std = torch.as_tensor(step.std, dtype=out.dtype, device=out.device).view(-1, 1, 1)
                out = out.sub(mean).div(std)
            elif gen is not None:
                x = self._random(step, x, gen)
        return out if out is not None else x.float().div(255)

    def _random(self, step, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, c, h, w = x.shape
        dev = x.device
        if isinstance(step, T.RandomRotation):
            angle = _uniform(n, step.degrees[0], step.degrees[1], gen, dev)
            return pil_affine_nearest(x, rotation_matrix(angle, w, h), _fill(step.fill, c))
        if isinstance(step, T.RandomAffine):
            return self.affine(step, x, gen)
        if isinstance(step, T.RandomHorizontalFlip):
            flip = torch.rand(n, device=dev, generator=gen) < step.p
            return torch.where(flip.view(n, 1, 1, 1), x.flip(-1), x)
        return self._crop(step, x, gen)

    @staticmethod
    def affine(step: T.RandomAffine, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, c, h, w = x.shape
        dev = x.device
        angle = _uniform(n, step.degrees[0], step.degrees[1], gen, dev)
        zeros = torch.zeros(n, device=dev)
        tx = ty = zeros
        if step.translate is not None:
            max_dx, max_dy = float(step.translate[0] * w), float(step.translate[1] * h)
            tx = torch.round(_uniform(n, -max_dx, max_dx, gen, dev))
            ty = torch.round(_uniform(n, -max_dy, max_dy, gen, dev))
        scale = _uniform(n, step.scale[0], step.scale[1], gen, dev) if step.scale is not None else zeros + 1
        shear_x = shear_y = zeros
        if step.shear is not None:
            shear_x = _uniform(n, step.shear[0], step.shear[1], gen, dev)
            if len(step.shear) == 4:
                shear_y = _uniform(n, step.shear[2], step.shear[3], gen, dev)
        matrix = inverse_affine_matrix(angle, tx, ty, scale, shear_x, shear_y, w, h)
        return pil_affine_nearest(x, matrix, _fill(step.fill, c))

    @staticmethod
    def _crop(step: T.RandomCrop, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, c, h, w = x.shape
        if step.padding_mode != "constant" or step.pad_if_needed:
            raise RfkitError("the fast loader supports RandomCrop with constant padding only")
        pad = step.padding or 0
        pads = [pad] * 4 if isinstance(pad, int) else list(pad) * (4 // len(pad))
        left, top, right, bottom = pads if len(pads) == 4 else (pads[0], pads[1], pads[0], pads[1])
        th, tw = step.size
        fill = _fill(step.fill, c).to(x.device).view(1, c, 1, 1)
        padded = fill.expand(n, c, h + top + bottom, w + left + right).clone()
        padded[:, :, top:top + h, left:left + w] = x
        i = torch.randint(0, padded.shape[2] - th + 1, (n,), device=x.device, generator=gen)
        j = torch.randint(0, padded.shape[3] - tw + 1, (n,), device=x.device, generator=gen)
        rows = (i.view(n, 1) + torch.arange(th, device=x.device)).view(n, 1, th, 1).expand(n, c, th, padded.shape[3])
        cropped = padded.gather(2, rows)
        cols = (j.view(n, 1) + torch.arange(tw, device=x.device)).view(n, 1, 1, tw).expand(n, c, th, tw)
        return cropped.gather(3, cols)

