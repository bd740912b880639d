"""Parameters of the simulated cell lines and instruments (frozen dataclasses with units).

The numbers are chosen to mimic the data of Ali et al. 2021 *in kind*: the seven lines imaged on a
high-content confocal (instrument ``A``, 0.59 µm/px) average about 870 nuclei/mm², HepG2 being the
densest, smallest and most clustered line and NIH3T3 the sparsest with the largest, flattest nuclei;
LNCaP on instrument ``B`` (0.325 µm/px) averages about 1170 nuclei/mm². How these values were
checked is written down in ``docs/simulator.md``.

Users change single values through ``simulation.line_overrides`` / ``simulation.instrument_overrides``
in the study config; :func:`resolve_line` and :func:`resolve_instrument` apply them and reject
unknown parameter names with a :class:`~nucflow.errors.NucflowError` that names them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from nucflow.errors import NucflowError


@dataclass(frozen=True)
class LineParams:
    """Appearance of one cell line. Lengths in µm, densities in nuclei per mm².

    Attributes:
        diameter_um: mean equivalent diameter of a nucleus (µm).
        diameter_cv: coefficient of variation of the diameter (unitless).
        eccentricity: mean eccentricity of the elliptic base shape (0 = circle, <1).
        irregularity: amplitude of the random radial boundary wobble (fraction of the radius).
        density_per_mm2: mean number of nucleus centres per mm² of field.
        density_cv: well-to-well coefficient of variation of the density (unitless).
        clustering: share of nuclei placed around cluster centres rather than uniformly (0..1).
        cluster_radius_um: standard deviation of the offset of a clustered nucleus from its centre (µm).
        overlap_fraction: share of nuclei allowed to touch or overlap a neighbour (0..1).
        texture_strength: relative amplitude of the chromatin texture in the stain (unitless).
        brightness_cv: nucleus-to-nucleus coefficient of variation of stain brightness.
        cytoplasm_extent: cell radius as a multiple of the nucleus radius (≥ 1; brightfield only).
        cell_height_um: height of the cell body above the glass at its thickest point (µm).
        nucleus_height_um: extra height of the nucleus above the cell body (µm; "flat" lines are low).
        nucleoli: mean number of nucleoli per nucleus (dim in the stain, phase-dense in brightfield).
    """

    diameter_um: float
    diameter_cv: float
    eccentricity: float
    irregularity: float
    density_per_mm2: float
    density_cv: float
    clustering: float
    cluster_radius_um: float
    overlap_fraction: float
    texture_strength: float
    brightness_cv: float
    cytoplasm_extent: float
    cell_height_um: float
    nucleus_height_um: float
    nucleoli: float


@dataclass(frozen=True)
class InstrumentParams:
    """Optics, illumination and detector of one instrument.

    Attributes:
        pixel_size_um: pixel edge in the sample plane (µm/px).
        bit_depth: detector range; pixel values lie in [0, 2**bit_depth - 1] (stored as uint16).
        fluor_psf_sigma_um: standard deviation of the Gaussian in-focus fluorescence PSF (µm).
        fluor_haze_fraction: share of the stain signal spread out of focus (unitless).
        fluor_haze_sigma_um: width of the out-of-focus haze (µm).
        fluor_photons: expected photons per pixel at the brightest part of a unit-brightness nucleus.
        fluor_background_photons: expected background photons per pixel.
        fluor_gain: digital counts per photon (fluorescence).
        fluor_offset: camera offset in counts (fluorescence).
        read_noise: standard deviation of the Gaussian read noise in counts.
        illumination_falloff: relative intensity drop from the illumination centre to a field corner.
        wavelength_um: mean brightfield illumination wavelength (µm).
        condenser_na: illumination numerical aperture; damps fine detail with growing defocus.
        objective_na: objective numerical aperture; cuts off the brightfield transfer function.
        defocus_min_um, defocus_max_um: defocus of the first and last brightfield plane (µm); the
            planes are spaced evenly between them, so an asymmetric range puts focus off-centre.
        focus_jitter_um: per-field standard deviation of the autofocus error (µm).
        bf_photons: expected photons per pixel of the brightfield background.
        bf_level: mean brightfield background as a fraction of the detector range.
        phase_per_um: phase delay per µm of cell thickness relative to the medium (rad/µm).
        nucleus_phase_per_um: extra phase per µm of nucleus thickness (rad/µm).
        registration_sd_um: per-field standard deviation of the shift between brightfield and
            fluorescence (µm), as between two acquisitions of a real instrument.
    """

    pixel_size_um: float
    bit_depth: int
    fluor_psf_sigma_um: float
    fluor_haze_fraction: float
    fluor_haze_sigma_um: float
    fluor_photons: float
    fluor_background_photons: float
    fluor_gain: float
    fluor_offset: float
    read_noise: float
    illumination_falloff: float
    wavelength_um: float
    condenser_na: float
    objective_na: float
    defocus_min_um: float
    defocus_max_um: float
    focus_jitter_um: float
    bf_photons: float
    bf_level: float
    phase_per_um: float
    nucleus_phase_per_um: float
    registration_sd_um: float


def _line(**kw: float) -> LineParams:
    base = dict(diameter_cv=0.15, eccentricity=0.55, irregularity=0.05, density_cv=0.2,
                clustering=0.3, cluster_radius_um=25.0, overlap_fraction=0.1,
                texture_strength=0.25, brightness_cv=0.2, cytoplasm_extent=2.0,
                cell_height_um=2.0, nucleus_height_um=2.5, nucleoli=2.0)
    base.update(kw)
    return LineParams(**base)


# Seven-line mean density: (900 + 1300 + 1700 + 1000 + 300 + 500 + 390) / 7 = 870 nuclei/mm².
CELL_LINES: dict[str, LineParams] = {
    "HeLa": _line(diameter_um=13.0, density_per_mm2=900.0, clustering=0.3, irregularity=0.06),
    "MDCK": _line(diameter_um=11.5, density_per_mm2=1300.0, clustering=0.55, eccentricity=0.45,
                  overlap_fraction=0.15, cytoplasm_extent=1.6, cluster_radius_um=30.0),
    "HepG2": _line(diameter_um=10.0, diameter_cv=0.18, density_per_mm2=1700.0, clustering=0.85,
                   cluster_radius_um=18.0, overlap_fraction=0.35, eccentricity=0.5,
                   irregularity=0.08, texture_strength=0.3, brightness_cv=0.3,
                   cytoplasm_extent=2.0, cell_height_um=5.0, nucleus_height_um=0.8),
    "MCF7": _line(diameter_um=12.5, density_per_mm2=1000.0, clustering=0.6, overlap_fraction=0.2,
                  cluster_radius_um=25.0, cytoplasm_extent=1.6, brightness_cv=0.25,
                  cell_height_um=2.0, nucleus_height_um=2.5),
    "NIH3T3": _line(diameter_um=17.0, diameter_cv=0.12, density_per_mm2=300.0, clustering=0.1,
                    eccentricity=0.75, irregularity=0.03, overlap_fraction=0.03,
                    texture_strength=0.2, cytoplasm_extent=3.0, cell_height_um=1.0,
                    nucleus_height_um=4.5, nucleoli=3.0),
    "A549": _line(diameter_um=14.0, density_per_mm2=500.0, clustering=0.3, cytoplasm_extent=2.3,
                  irregularity=0.06, cell_height_um=1.5),
    "HT1080": _line(diameter_um=13.5, density_per_mm2=390.0, clustering=0.2, eccentricity=0.65,
                    cytoplasm_extent=2.6, overlap_fraction=0.05, cell_height_um=1.5),
    "LNCaP": _line(diameter_um=11.0, density_per_mm2=1170.0, clustering=0.6, cluster_radius_um=22.0,
                   overlap_fraction=0.2, eccentricity=0.5, irregularity=0.07,
                   cytoplasm_extent=1.7, brightness_cv=0.25, texture_strength=0.2),
}

INSTRUMENTS: dict[str, InstrumentParams] = {
    # High-content confocal, 20x water objective, Hoechst; 16-bit camera.
    "A": InstrumentParams(
        pixel_size_um=0.59, bit_depth=16, fluor_psf_sigma_um=0.45, fluor_haze_fraction=0.08,
        fluor_haze_sigma_um=4.0, fluor_photons=900.0, fluor_background_photons=40.0,
        fluor_gain=4.0, fluor_offset=100.0, read_noise=6.0, illumination_falloff=0.15,
        wavelength_um=0.55, condenser_na=0.25, objective_na=1.0, defocus_min_um=-6.0,
        defocus_max_um=10.0, focus_jitter_um=0.5, bf_photons=1500.0, bf_level=0.35,
        phase_per_um=0.20, nucleus_phase_per_um=0.115, registration_sd_um=0.3),
    # Second instrument: finer sampling, far-red stain (fewer photons), 12-bit range,
    # stronger illumination falloff, wider condenser aperture and a different plane range.
    "B": InstrumentParams(
        pixel_size_um=0.325, bit_depth=12, fluor_psf_sigma_um=0.55, fluor_haze_fraction=0.12,
        fluor_haze_sigma_um=5.0, fluor_photons=250.0, fluor_background_photons=30.0,
        fluor_gain=1.0, fluor_offset=200.0, read_noise=3.0, illumination_falloff=0.3,
        wavelength_um=0.60, condenser_na=0.35, objective_na=0.75, defocus_min_um=-10.0,
        defocus_max_um=6.0, focus_jitter_um=0.8, bf_photons=1500.0, bf_level=0.5,
        phase_per_um=0.25, nucleus_phase_per_um=0.10, registration_sd_um=0.4),
}


def _apply(base: Any, overrides: Mapping[str, Any] | None, what: str) -> Any:
    overrides = dict(overrides or {})
    known = {f.name: f.type for f in dataclasses.fields(base)}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise NucflowError(f"{what}: unknown parameter(s) {', '.join(map(repr, unknown))}"
                           f" (known: {', '.join(sorted(known))})")
    clean: dict[str, Any] = {}
    for name, value in overrides.items():
        current = getattr(base, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise NucflowError(f"{what}: parameter {name!r} must be a number, got {value!r}")
        clean[name] = int(value) if isinstance(current, int) else float(value)
    return dataclasses.replace(base, **clean)


def resolve_line(name: str, overrides: Mapping[str, Any] | None = None) -> LineParams:
    """The parameters of cell line ``name`` with ``overrides`` applied.

    Raises NucflowError for an unknown line, an unknown parameter name or a non-numeric value.
    """
    if name not in CELL_LINES:
        raise NucflowError(f"cell line {name!r}: unknown (known: {', '.join(CELL_LINES)})")
    return _apply(CELL_LINES[name], overrides, f"simulation.line_overrides.{name}")


def resolve_instrument(name: str, overrides: Mapping[str, Any] | None = None) -> InstrumentParams:
    """The parameters of instrument ``name`` (``"A"`` or ``"B"``) with ``overrides`` applied."""
    if name not in INSTRUMENTS:
        raise NucflowError(f"instrument {name!r}: unknown (known: {', '.join(INSTRUMENTS)})")
    return _apply(INSTRUMENTS[name], overrides, f"simulation.instrument_overrides.{name}")


def plane_defocus_um(instrument: InstrumentParams, n_planes: int) -> list[float]:
    """Nominal defocus of each brightfield plane (µm), evenly spaced from min to max."""
    if n_planes == 1:
        return [0.0]
    step = (instrument.defocus_max_um - instrument.defocus_min_um) / (n_planes - 1)
    return [round(instrument.defocus_min_um + i * step, 6) for i in range(n_planes)]
