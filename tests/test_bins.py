"""Chroma bins, soft encoding, annealed mean, rebalancing, and the classify LightningModule on tiny data."""

import lightning as L
import pytest
import torch

from colorize.config import load_config
from colorize.data.datamodule import ColorizationDataModule
from colorize.models.modules import build_module
from colorize.models.modules.classify import PRIOR_STRIDE, ClassificationColorizer
from colorize.networks.bins import (
    annealed_mean,
    gamut_bins,
    grid_for_count,
    nearest_bins,
    rebalancing_weights,
    smoothed_prior,
    soft_encode,
)
from colorize.spaces import SPACES
from conftest import TINY_BODY, TINY_TRAINING, tiny_config

NAMES = list(SPACES)


def srgb_chroma(space, step: int = 1) -> torch.Tensor:
    """Chroma (2, N) of the 8-bit sRGB colours on every ``step``-th level of each channel (all 2^24 for step 1),
    converted a slab of the cube at a time."""
    levels = torch.arange(0, 256, step, dtype=torch.float32) / 255
    slabs = []
    for red in levels.split(32):
        r, g, b = torch.meshgrid(red, levels, levels, indexing="ij")
        slabs.append(space.rgb_to_space(torch.stack([r, g, b]).reshape(3, 1, -1))[1:].reshape(2, -1))
    return torch.cat(slabs, dim=1)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_srgb_colour_lies_within_half_a_cell_of_a_bin_and_every_bin_holds_one(name):
    assert_within_half_a_cell(name, srgb_chroma(SPACES[name]))


@pytest.mark.parametrize("name", NAMES)
def test_every_fifth_level_of_srgb_lies_within_half_a_cell_of_a_bin(name):
    """The fast suite's sample of the test above: 52^3 colours."""
    assert_within_half_a_cell(name, srgb_chroma(SPACES[name], step=5), every_bin_used=False)


def assert_within_half_a_cell(name: str, chroma: torch.Tensor, every_bin_used: bool = True) -> None:
    """Chebyshev distance <= grid / 2: each colour's own cell (the nearest grid point on each axis) is a bin."""
    space = SPACES[name]
    grid = space.bin_grid
    centres = gamut_bins(space, grid)
    cells = centres / grid
    assert (cells - cells.round()).abs().max() < 1e-4  # bin centres lie on the grid
    cells = cells.round().long()
    low, size = cells.min(dim=0).values, cells.max(dim=0).values - cells.min(dim=0).values + 1
    occupied = torch.zeros(*size.tolist(), dtype=torch.bool)
    occupied[cells[:, 0] - low[0], cells[:, 1] - low[1]] = True

    own = torch.round(chroma / grid).long()
    assert ((chroma - own * grid).abs() <= grid * (0.5 + 1e-5)).all()
    index = own - low.view(2, 1)
    assert (index >= 0).all() and (index < size.view(2, 1)).all(), "a colour lies outside the bins' bounding box"
    assert occupied[index[0], index[1]].all(), f"{int((~occupied[index[0], index[1]]).sum())} colours fall in no bin"
    if every_bin_used:  # no bin is wasted either: every bin holds some colour
        assert len(torch.unique(index[0] * size[1] + index[1])) == len(centres)


def test_lab_at_grid_10_has_close_to_zhangs_313_bins():
    """The sRGB gamut fills 261 cells at grid 10 here; Zhang et al. kept 313. The bounds exclude grids 9 (318)
    and 11 (220), so an off-by-one grid, a unit mix-up (normalised chroma gives a handful) or a broken gamut fails."""
    count = len(gamut_bins(SPACES["lab"], 10.0))
    assert 240 <= count <= 300


@pytest.mark.parametrize("name", NAMES)
def test_each_space_has_about_as_many_bins_as_lab(name):
    """Each grid is the one whose count is nearest Lab's among grids 4% apart (LUV's are 0.5 apart, OKLab's and YCbCr's
    0.0005): comparable bins in every space."""
    space, lab_count = SPACES[name], len(gamut_bins(SPACES["lab"], SPACES["lab"].bin_grid))
    count = len(gamut_bins(space, space.bin_grid))
    assert abs(count - lab_count) <= 0.02 * lab_count, count
    neighbours = [space.bin_grid * 0.96, space.bin_grid, space.bin_grid * 1.04]
    assert grid_for_count(space, lab_count, neighbours) == space.bin_grid


def test_bins_are_deterministic_and_sorted():
    first, second = gamut_bins(SPACES["luv"], 13.5), gamut_bins(SPACES["luv"], 13.5)
    assert torch.equal(first, second)
    keys = first[:, 0] * 1000 + first[:, 1]
    assert torch.equal(keys, keys.sort().values)


@pytest.fixture(scope="module")
def lab_centres():
    return gamut_bins(SPACES["lab"], 10.0)


def test_soft_encoding_sums_to_one_and_favours_the_nearest_bin(lab_centres):
    chroma = (torch.rand(3, 2, 9, 7, generator=torch.Generator().manual_seed(0)) - 0.5) * 120
    indices, weights = soft_encode(chroma, lab_centres, sigma=5.0)
    assert indices.shape == weights.shape == (3, 5, 9, 7)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(3, 9, 7))
    brute = torch.cdist(chroma.movedim(1, -1).reshape(-1, 2), lab_centres).argmin(dim=1).reshape(3, 9, 7)
    assert torch.equal(indices[:, 0], brute)
    assert (weights[:, :-1] >= weights[:, 1:]).all()  # nearest first
    assert (weights[:, 0] >= weights[:, 1:].max(dim=1).values).all()
    assert (weights[:, 0] > 0.2).all()  # the nearest bin is within 5√2 of any in-gamut colour: weight ≥ e^-1 of the first


@pytest.mark.parametrize("name", NAMES)
def test_soft_encoding_and_prior_smoothing_are_as_wide_in_every_space(name):
    """Half a cell, in the space's own units (Zhang et al.'s σ = 5 at Lab's grid 10): a colour on a bin centre puts most
    of its weight there (its neighbours are a cell away: e^-2 each), and smoothing reaches only the nearest cells."""
    space = SPACES[name]
    centres = gamut_bins(space, space.bin_grid)
    middle = int(centres.norm(dim=1).argmin())  # grey's bin, inside the gamut
    _, on_centre = soft_encode(centres[middle].view(1, 2, 1, 1), centres, space.bin_sigma)
    assert 0.5 < on_centre[0, 0, 0, 0] < 0.9
    counts = torch.zeros(len(centres))
    counts[middle] = 1
    prior = smoothed_prior(counts, centres, space.bin_sigma)
    distance = (centres - centres[middle]).norm(dim=1) / space.bin_grid
    assert prior.argmax() == middle and prior[distance > 3].max() < 1e-6 * prior[middle]
    assert prior[(distance - 1).abs() < 1e-3].min() > 0.1 * prior[middle]


def test_nearest_bins_match_a_search_of_every_bin(lab_centres):
    chroma = (torch.rand(1, 2, 64, 64, generator=torch.Generator().manual_seed(2)) - 0.5) * 300  # ±150: far beyond it too
    squared, indices = nearest_bins(chroma, lab_centres, k=5)
    every = (chroma.movedim(1, -1).reshape(-1, 1, 2) - lab_centres).square().sum(-1)
    brute = every.topk(5, dim=1, largest=False)
    torch.testing.assert_close(squared.movedim(1, -1).reshape(-1, 5), brute.values)
    assert (indices.movedim(1, -1).reshape(-1, 5) == brute.indices).float().mean() > 0.999  # all but exact ties


def test_annealed_mean_is_the_mode_when_cold_and_the_mean_at_t_1(lab_centres):
    logits = torch.randn(2, len(lab_centres), 4, 4, generator=torch.Generator().manual_seed(1)) * 3
    mode = lab_centres[logits.argmax(dim=1)].movedim(-1, 1)
    torch.testing.assert_close(annealed_mean(logits, lab_centres, temperature=1e-3), mode)
    mean = torch.einsum("bqhw,qc->bchw", torch.softmax(logits, dim=1), lab_centres)
    torch.testing.assert_close(annealed_mean(logits, lab_centres, temperature=1.0), mean, rtol=1e-5, atol=1e-4)


def test_rebalancing_weights_have_expectation_one_and_favour_rare_bins(lab_centres):
    counts = torch.zeros(len(lab_centres))
    counts[:50] = torch.arange(1.0, 51.0) ** 2
    prior = smoothed_prior(counts, lab_centres, sigma=5.0)
    torch.testing.assert_close(prior.sum(), torch.tensor(1.0))
    assert (prior > 0).all() or (prior[counts > 0] > 0).all()
    weights = rebalancing_weights(prior, uniform_mix=0.5)
    torch.testing.assert_close((prior * weights).sum(), torch.tensor(1.0))
    assert weights[prior.argmin()] > weights[prior.argmax()]
    torch.testing.assert_close(rebalancing_weights(prior, uniform_mix=1.0), torch.ones(len(prior)))


# ---------------------------------------------------------------- the LightningModule


def tiny_classifier(space: str, network: str = "cnn") -> ClassificationColorizer:
    cfg = load_config([*TINY_TRAINING, *TINY_BODY[network], "model=classify", f"model.body={network}", f"space={space}"])
    cfg.model.scheduler = "none"  # the hand-built trainers below do not plan a whole run
    return build_module(cfg)


def tiny_data(tmp_path) -> ColorizationDataModule:
    datamodule = ColorizationDataModule(tiny_config(tmp_path).data, seed=0)
    datamodule.setup("fit")
    return datamodule


def tiny_trainer(tmp_path, **kwargs) -> L.Trainer:
    options = {"max_steps": 1, "limit_train_batches": 1, "limit_val_batches": 0, "num_sanity_val_steps": 0, **kwargs}
    return L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        **options,
    )


@pytest.mark.parametrize(("space", "network"), [("lab", "cnn"), pytest.param("luv", "resnet", marks=pytest.mark.slow)])
def test_training_step_learns_and_forward_gives_normalised_chroma(tmp_path, space, network):
    torch.manual_seed(0)
    module = tiny_classifier(space, network)
    before = [p.detach().clone() for p in module.net.parameters()]
    trainer = tiny_trainer(tmp_path, limit_val_batches=1)
    trainer.fit(module, datamodule=tiny_data(tmp_path))
    assert trainer.global_step == 1
    torch.testing.assert_close(module.prior.sum(), torch.tensor(1.0))
    torch.testing.assert_close((module.prior * module.class_weights).sum(), torch.tensor(1.0))
    assert any(not torch.equal(a, b) for a, b in zip(before, module.net.parameters()))
    logged = trainer.callback_metrics
    assert torch.isfinite(logged["train/loss"]) and logged["train/loss"] > 0
    assert 0 < logged["train/entropy"] <= torch.log(torch.tensor(float(len(module.bin_centres)))) + 1e-4
    assert "val/delta_e" in logged
    module.eval()
    chroma = module(torch.zeros(2, 1, 24, 20))
    assert chroma.shape == (2, 2, 24, 20) and chroma.abs().max() <= 1


def test_prior_is_deterministic_and_draws_no_random_numbers(tmp_path):
    datamodule = tiny_data(tmp_path)
    priors = []
    for _ in range(2):
        module = tiny_classifier("lab")
        trainer = tiny_trainer(tmp_path)
        trainer.fit(module, datamodule=datamodule)
        torch.manual_seed(123)
        state = torch.get_rng_state()
        counts = module.count_training_colours(max_crops=1000)
        assert torch.equal(torch.get_rng_state(), state)
        batches = len(datamodule.train_set) // datamodule.cfg.batch_size  # the training loader drops a short batch
        assert counts.sum() == batches * datamodule.cfg.batch_size * (32 // PRIOR_STRIDE) ** 2
        priors.append(module.prior.clone())
    assert torch.equal(priors[0], priors[1])


def test_checkpoint_carries_bins_and_prior_and_resume_does_not_recount(tmp_path, monkeypatch):
    datamodule = tiny_data(tmp_path)
    module = tiny_classifier("luv")
    trainer = tiny_trainer(tmp_path)
    trainer.fit(module, datamodule=datamodule)
    path = tmp_path / "one.ckpt"
    trainer.save_checkpoint(path)

    state = torch.load(path, weights_only=True)["state_dict"]
    assert {"net.head.centres", "prior", "class_weights"} <= set(state)
    rebuilt = ClassificationColorizer(model=module.hparams["model"], space="luv")  # no net given: from the config alone
    rebuilt.load_state_dict(state)
    rebuilt.eval(), module.eval()
    lightness = torch.rand(1, 1, 16, 16) * 2 - 1
    torch.testing.assert_close(rebuilt(lightness), module(lightness))

    def no_recount(*args, **kwargs):
        raise AssertionError("a resumed run recounted its prior")

    resumed = tiny_classifier("luv")
    monkeypatch.setattr(resumed, "count_training_colours", no_recount)
    tiny_trainer(tmp_path, max_steps=2).fit(resumed, datamodule=datamodule, ckpt_path=path, weights_only=True)
    torch.testing.assert_close(resumed.prior, module.prior)


def test_without_a_datamodule_every_bin_weighs_the_same_and_it_says_so(tmp_path):
    module = tiny_classifier("lab")
    loader = torch.utils.data.DataLoader(torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8), batch_size=4)
    with pytest.warns(UserWarning, match="no datamodule"):
        tiny_trainer(tmp_path).fit(module, train_dataloaders=loader)
    assert torch.equal(module.class_weights, torch.ones(len(module.bin_centres)))
    assert module.prior.sum() == pytest.approx(1.0)
