"""Image formation: textures, uneven illumination, the fluorescence image and the brightfield stack.

All convolutions are done in Fourier space on real FFTs (``scipy.fft.rfft2``) in single precision.
Frequencies are in cycles/µm, lengths in µm, phases in radians.

Brightfield follows the linearised (weak-object) transfer model of a partially coherent microscope:
for a specimen with phase ``φ`` and absorption ``a`` the intensity spectrum at defocus ``z`` is

    Î_z(k) = δ(k) + [2 sin(χ) φ̂(k) − 2 cos(χ) â(k)] · E_z(k) · P(k),   χ = π λ z |k|²,

with ``E_z(k) = exp(−2 (π σ_z |k|)²)``, ``σ_z = NA_c |z| / 2`` (blur by the finite condenser
aperture, growing with defocus) and ``P`` the objective pupil (cut-off NA_obj / λ). In focus
(z = 0) a pure phase object is invisible; contrast appears and then blurs as |z| grows.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft

from nucflow.simulator.lines import InstrumentParams


def frequency_grid(shape: tuple[int, int], pixel_size_um: float) -> tuple[np.ndarray, np.ndarray]:
    """(ky, kx) in cycles/µm for an rfft2 of an (H, W) image: shapes (H, 1) and (1, W//2+1)."""
    ky = sfft.fftfreq(shape[0], d=pixel_size_um).astype(np.float32)[:, None]
    kx = sfft.rfftfreq(shape[1], d=pixel_size_um).astype(np.float32)[None, :]
    return ky, kx


def band_noise_pair(rng: np.random.Generator, shape: tuple[int, int], pixel_size_um: float,
                    scale_um: float) -> tuple[np.ndarray, np.ndarray]:
    """Two independent (H, W) float32 random textures with unit standard deviation.

    White noise band-passed around ``scale_um`` (a difference of Gaussians); one complex FFT gives
    both (its real and imaginary parts).
    """
    noise = (rng.standard_normal(shape, dtype=np.float32)
             + 1j * rng.standard_normal(shape, dtype=np.float32)).astype(np.complex64)
    ky = sfft.fftfreq(shape[0], d=pixel_size_um).astype(np.float32)[:, None]
    kx = sfft.fftfreq(shape[1], d=pixel_size_um).astype(np.float32)[None, :]
    k2 = ky * ky + kx * kx
    s_small, s_large = scale_um / 2.0, scale_um
    band = np.exp(-2 * np.pi**2 * s_small**2 * k2) - np.exp(-2 * np.pi**2 * s_large**2 * k2)
    field = sfft.ifft2(sfft.fft2(noise, workers=1) * band, workers=1)
    out = []
    for part in (field.real, field.imag):
        sd = float(part.std()) or 1.0
        out.append((part / sd).astype(np.float32))
    return out[0], out[1]


def illumination(rng: np.random.Generator, shape: tuple[int, int], falloff: float) -> np.ndarray:
    """(H, W) float32 smooth illumination profile, 1 at its centre, ``1 - falloff`` at ~a corner.

    A quadratic vignette around a randomly displaced centre times a gentle tilt; built from
    outer products (no per-pixel loop).
    """
    h, w = shape
    cy, cx = (0.5 + rng.normal(0.0, 0.1, 2)) * np.array([h, w])
    y = ((np.arange(h) - cy) / (0.5 * np.hypot(h, w))).astype(np.float32)
    x = ((np.arange(w) - cx) / (0.5 * np.hypot(h, w))).astype(np.float32)
    radial = y[:, None] ** 2 + x[None, :] ** 2
    tilt_y, tilt_x = rng.normal(0.0, 0.03, 2)
    return (1.0 - falloff * radial) * (1.0 + tilt_y * y[:, None] + tilt_x * x[None, :])


def _pad(image: np.ndarray, margin_px: int) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Reflect-pad ``image`` to a fast FFT size at least ``margin_px`` larger on each side.

    Returns the padded image and the slices that crop the original back out, so convolutions do
    not wrap objects from one border onto the other.
    """
    h, w = image.shape
    big_h = sfft.next_fast_len(h + 2 * margin_px, real=True)
    big_w = sfft.next_fast_len(w + 2 * margin_px, real=True)
    top, left = (big_h - h) // 2, (big_w - w) // 2
    padded = np.pad(image, ((top, big_h - h - top), (left, big_w - w - left)), mode="reflect")
    return padded, (slice(top, top + h), slice(left, left + w))


def _to_counts(values: np.ndarray, bit_depth: int) -> np.ndarray:
    top = np.float32(2**bit_depth - 1)
    values = np.rint(values, out=values) if values.dtype == np.float32 else np.rint(values)
    return np.clip(values, 0, top, out=values).astype(np.uint16)


def fluorescence_image(rng: np.random.Generator, stain: np.ndarray, instrument: InstrumentParams,
                       illum: np.ndarray) -> np.ndarray:
    """Nuclear-stain image (H, W) uint16 in [0, 2**bit_depth − 1].

    ``stain`` (H, W) float32 relative stain density (1 = a typical nucleus) is blurred by the
    in-focus Gaussian PSF plus a wide out-of-focus haze, multiplied by the illumination, turned
    into photons (Poisson) on a uniform background, then gain, offset and Gaussian read noise.
    """
    shape = stain.shape
    margin = int(min(2.0 * instrument.fluor_haze_sigma_um / instrument.pixel_size_um, max(shape)))
    padded, crop = _pad(stain, margin)
    ky, kx = frequency_grid(padded.shape, instrument.pixel_size_um)
    k2 = ky * ky + kx * kx
    h = instrument.fluor_haze_fraction
    otf = ((1 - h) * np.exp(-2 * np.pi**2 * instrument.fluor_psf_sigma_um**2 * k2)
           + h * np.exp(-2 * np.pi**2 * instrument.fluor_haze_sigma_um**2 * k2))
    blurred = sfft.irfft2(sfft.rfft2(padded, workers=1) * otf, s=padded.shape, workers=1)[crop]
    photons = np.clip(blurred, 0.0, None) * instrument.fluor_photons * illum
    photons += instrument.fluor_background_photons * illum
    detected = rng.poisson(photons).astype(np.float32)
    counts = (detected * instrument.fluor_gain + instrument.fluor_offset
              + rng.standard_normal(shape, dtype=np.float32) * instrument.read_noise)
    return _to_counts(counts, instrument.bit_depth)


def brightfield_stack(rng: np.random.Generator, phase: np.ndarray, absorption: np.ndarray,
                      defocus_um: list[float], instrument: InstrumentParams, illum: np.ndarray,
                      shift_yx_um: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Brightfield planes (n_planes, H, W) uint16 at the given defocus values (µm).

    ``phase`` (rad) and ``absorption`` (unitless, 0 = clear) are (H, W) float32 maps; the whole
    specimen is shifted by ``shift_yx_um`` (registration error against the fluorescence). Photon
    noise is Gaussian with variance equal to the mean (photon counts are in the thousands).
    """
    shape = phase.shape
    reach_um = 0.5 * instrument.condenser_na * max(abs(z) for z in defocus_um) * 3 + 4.0
    margin = int(min(reach_um / instrument.pixel_size_um, max(shape)))
    phase_pad, crop = _pad(phase - phase.mean(), margin)
    absorb_pad, _ = _pad(absorption - absorption.mean(), margin)
    big = phase_pad.shape
    ky, kx = frequency_grid(big, instrument.pixel_size_um)
    k2 = ky * ky + kx * kx
    k = np.sqrt(k2)
    ramp = np.exp(-2j * np.pi * (ky * shift_yx_um[0] + kx * shift_yx_um[1])).astype(np.complex64)
    phase_hat = sfft.rfft2(phase_pad, workers=1) * ramp
    absorb_hat = sfft.rfft2(absorb_pad, workers=1) * ramp
    cutoff = instrument.objective_na / instrument.wavelength_um
    pupil = (1.0 / (1.0 + (k / cutoff) ** 8)).astype(np.float32)
    transmitted = float(np.exp(-2.0 * absorption.mean()))
    top = float(2**instrument.bit_depth - 1)
    counts_per_photon = instrument.bf_level * top / instrument.bf_photons
    planes = np.empty((len(defocus_um), *shape), dtype=np.uint16)
    damping = np.float32(-2 * np.pi**2) * k2
    chi_unit = np.float32(np.pi * instrument.wavelength_um) * k2
    read_var = np.float32(instrument.read_noise**2)
    for i, z in enumerate(defocus_um):
        chi = chi_unit * np.float32(z)
        envelope = pupil * np.exp(damping * np.float32((0.5 * instrument.condenser_na * z) ** 2))
        spectrum = (2 * np.sin(chi) * envelope) * phase_hat
        spectrum -= (2 * np.cos(chi) * envelope) * absorb_hat
        contrast = sfft.irfft2(spectrum, s=big, workers=1)[crop]
        mean_counts = np.clip(transmitted + contrast, 0.02, None)
        mean_counts *= illum
        mean_counts *= np.float32(instrument.bf_photons * counts_per_photon)
        # photon (Poisson, Gaussian approximation) and read noise in one draw
        sd = np.sqrt(mean_counts * np.float32(counts_per_photon) + read_var)
        mean_counts += sd * rng.standard_normal(shape, dtype=np.float32)
        planes[i] = _to_counts(mean_counts, instrument.bit_depth)
    return planes
