"""Users add devices and model architectures by file, through the API or the environment."""

from __future__ import annotations

import re

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal import hardware, render

MY_BOX = {
    "id": "my-box",
    "name": "My box",
    "device_class": "discrete_gpu",
    "memory_gb": 48,
    "memory_type": "GDDR6",
    "bandwidth_gbs": 960,
    "fp16_tflops": 150,
    "int8_tops": 600,
    "power_w": 300,
    "process": "N4",
    "node": "n5",
    "die_area_mm2": None,
    "sram_mb": None,
    "source": "the user's own measurements",
    "as_of": "2026-12-01",
}


@pytest.fixture(autouse=True)
def fresh_tables() -> Iterator[None]:
    hardware.reset_tables()
    yield
    hardware.reset_tables()


def write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_a_device_from_the_environment_is_usable_like_a_shipped_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "SHOAL_DEVICES", str(write(tmp_path / "devices.json", {"devices": [MY_BOX]}))
    )

    fit = hardware.hardware_fit("llama-3.1-8b-instruct", "my-box")

    assert fit.device == "my-box"
    assert fit.memory_available_gb < MY_BOX["memory_gb"]
    assert fit.fits and fit.decode_tokens_per_s > 0


def test_a_device_without_its_optional_texts_loads_with_them_unknown(tmp_path: Path) -> None:
    optional_texts = ("memory_type", "process", "node", "source", "as_of")
    bare = {key: value for key, value in MY_BOX.items() if key not in optional_texts}
    (device,) = hardware.load_devices(
        write(tmp_path / "devices.json", {"devices": [{**bare, "notes": None}]})
    )

    assert all(getattr(device, name) is None for name in optional_texts)
    assert device.notes == ""  # null notes read as no notes, like absent ones
    assert hardware.hardware_fit("llama-3.1-8b-instruct", "my-box").fits


def test_an_architecture_file_adds_a_model(tmp_path: Path) -> None:
    shipped = hardware.get_architecture("llama-3.1-8b-instruct")
    row = {**shipped.__dict__, "id": "my-llama-8b-finetune"}
    hardware.load_architectures(write(tmp_path / "arch.json", {"architectures": [row]}))

    mine = hardware.hardware_fit("my-llama-8b-finetune", "apple-m4-pro")
    theirs = hardware.hardware_fit("llama-3.1-8b-instruct", "apple-m4-pro")

    assert mine.decode_tokens_per_s == theirs.decode_tokens_per_s


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kv_heads": 64, "attention_heads": 32},
         "field 'kv_heads' (64) must not exceed 'attention_heads' (32)"),
        ({"active_params_b": 9.0}, "field 'active_params_b' (9) must not exceed 'params_b'"),
        ({"experts": 8, "active_experts": 16},
         "field 'active_experts' (16) must not exceed 'experts' (8)"),
        ({"active_experts": 2, "experts": None}, "field 'active_experts' needs field 'experts'"),
        ({"sliding_window_layers": 40, "sliding_window": 4096},
         "field 'sliding_window_layers' (40) must not exceed 'layers' (32)"),
        ({"params_b": 8.03e9}, "field 'params_b' must be at most 100,000"),
        ({"layers": 32.5}, "field 'layers' must be a whole number, got 32.5"),
        ({"attention_heads": 30, "kv_heads": 4},
         "field 'attention_heads' (30) must be a multiple of 'kv_heads' (4)"),
        ({"sliding_window_layers": 8, "sliding_window": 0},
         "field 'sliding_window_layers' needs a 'sliding_window' above 0"),
        ({"experts": 0, "active_params_b": 2.0},
         "field 'experts' is 0 (a dense model) but 'active_params_b' (2) is below 'params_b'"),
        ({"experts": 8, "active_experts": 8, "active_params_b": 2.0},
         "field 'active_experts' (8) reads every expert, so 'active_params_b' (2) must equal"),
        # The three below loaded, while experts 0 with the first's figures was refused.
        ({"experts": None, "active_params_b": 2.0},
         "field 'experts' is not given (a dense model) but 'active_params_b' (2) is below"),
        ({"experts": 8, "active_experts": 2},
         "field 'active_experts' (2 of 8) reads a share of the experts, so 'active_params_b' "
         "(8.03) must be below 'params_b' (8.03)"),
        ({"experts": 8, "active_experts": None, "active_params_b": 2.0},
         "field 'experts' (8) needs 'active_experts' beside it"),
    ],
)
def test_an_architecture_whose_parts_exceed_the_whole_is_refused_by_row(
    tmp_path: Path, change: dict, message: str
) -> None:
    shipped = hardware.get_architecture("llama-3.1-8b-instruct")
    row = {**shipped.__dict__, "id": "my-model", **change}
    path = write(tmp_path / "arch.json", {"architectures": [row]})

    with pytest.raises(ValueError, match=re.escape(message)) as refused:
        hardware.load_architectures(path)

    assert str(refused.value).startswith(f"{path}: architectures row 1")
    with pytest.raises(hardware.UnknownNameError):
        hardware.get_architecture("my-model")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"devices": [{**MY_BOX, "memory_gb": -1}]}, "'memory_gb' must be a positive number"),
        ({"devices": [{**MY_BOX, "bandwidth_gbs": "fast"}]}, "'bandwidth_gbs' must be a positive"),
        ({"devices": [{key: MY_BOX[key] for key in ("id", "name")}]}, "'device_class' must be"),
        ({"devices": [MY_BOX, {**MY_BOX, "id": "my-other-box", "device_class": "quantum"}]},
         "unknown device_class"),
        ({"devices": "my-box"}, "'devices' must be a list"),
        ({"devices": ["my-box"]}, "row 1 is malformed"),
        ({"devices": [{**MY_BOX, "fp16_tflops": 1e308}]},
         r"'fp16_tflops' must be at most 1,000,000, got 1e\+308"),
        ({"devices": [{**MY_BOX, "bandwidth_gbs": 1e9}]}, "'bandwidth_gbs' must be at most"),
        ({"devices": [{**MY_BOX, "sram_mb": 2e6}]}, "'sram_mb' must be at most 1,000,000,"),
        # A die of 0 mm2 divided the power density by zero in `hw port`.
        ({"devices": [{**MY_BOX, "die_area_mm2": 0}]},
         "'die_area_mm2' must be a positive number or null, got 0"),
        ({"devices": [{**MY_BOX, "id": "my-box\u202e"}]},
         re.escape("'id' must hold only printable characters (no control or format characters, "
                   "no space but ' '), got 'my-box\\u202e'")),
    ],
)
def test_a_malformed_device_file_names_the_row_and_field(
    tmp_path: Path, document: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        hardware.load_devices(write(tmp_path / "devices.json", document))

    assert "my-box" not in {device.id for device in hardware.list_devices()}


def test_a_device_of_the_largest_accepted_figures_gives_finite_estimates(tmp_path: Path) -> None:
    hardware.load_devices(write(tmp_path / "devices.json", {
        "devices": [{**MY_BOX, **hardware.DEVICE_FIELD_LIMITS}]
    }))

    fit = hardware.hardware_fit("llama-3.1-8b-instruct", "my-box")

    assert math.isfinite(fit.prefill_tokens_per_s) and math.isfinite(fit.decode_tokens_per_s)
    assert math.isfinite(fit.joules_per_token)


def test_a_memory_interface_above_the_device_power_is_capped_at_it(tmp_path: Path) -> None:
    # 960 GB/s of GDDR6 at 7.5 pJ/bit is 57.6 W, more than this whole box draws.
    small_box = {**MY_BOX, "power_w": 30, "die_area_mm2": 300}
    hardware.load_devices(write(tmp_path / "d.json", {"devices": [small_box]}))

    chip = hardware.port_chip("my-box", to_node="nanostack-claimed", mode="iso-performance")

    assert chip.memory_interface_power_w == 30.0
    assert chip.die_power_w == 0.0 and chip.power_w == 30.0
    assert any("would draw more than the device's 30.0 W" in note for note in chip.notes)
    assert chip.power_density_w_per_mm2_before == 0.0
    assert "power density" not in render.ported_chip(chip)  # nothing to compare


def test_unreadable_files_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")

    with pytest.raises(ValueError, match="not valid JSON"):
        hardware.load_devices(tmp_path / "broken.json")
    with pytest.raises(ValueError, match="cannot read"):
        hardware.load_architectures(tmp_path / "missing.json")


def test_a_file_naming_one_model_twice_is_refused_and_a_repository_resolves_to_the_users_row(
    tmp_path: Path,
) -> None:
    shipped = hardware.get_architecture("llama-3.1-8b-instruct")
    row = {**shipped.__dict__, "id": "my-model", "hf_repo": "me/my-model"}
    twice = write(tmp_path / "twice.json",
                  {"architectures": [row, {**row, "id": "My-Model", "hf_repo": None}]})
    same_repo = write(tmp_path / "repo.json",
                      {"architectures": [row, {**row, "id": "other"}]})

    with pytest.raises(ValueError, match=r"rows 1 and 2 have the same id \('My-Model', in any"):
        hardware.load_architectures(twice)
    with pytest.raises(ValueError, match=r"rows 1 and 2 have the same hf_repo"):
        hardware.load_architectures(same_repo)

    # A user's row for a shipped repository is the one that repository names from then on.
    mine = {**shipped.__dict__, "id": "my-llama", "layers": 40}
    hardware.load_architectures(write(tmp_path / "mine.json", {"architectures": [mine]}))
    assert hardware.get_architecture(shipped.hf_repo).id == "my-llama"


@pytest.mark.parametrize("second_id", ["MY-BOX", "my-box"])
def test_a_device_file_naming_one_device_twice_is_refused_naming_both_rows(
    tmp_path: Path, second_id: str
) -> None:
    # Both rows loaded; `hw devices` listed both and `hw fit my-box` used the later one.
    path = write(tmp_path / "devices.json",
                 {"devices": [MY_BOX, {**MY_BOX, "id": second_id, "memory_gb": 96}]})

    with pytest.raises(ValueError) as refused:
        hardware.load_devices(path)

    assert str(refused.value) == (
        f"{path}: devices rows 1 and 2 have the same id ({second_id!r}, in any case); give each "
        "device one row"
    )
    assert not [d for d in hardware.list_devices() if d.id.lower() == "my-box"]


def test_a_device_row_replaces_a_shipped_one_however_it_spells_the_id(tmp_path: Path) -> None:
    shipped = hardware.get_device("rtx-4090")
    hardware.load_devices(write(tmp_path / "devices.json", {
        "devices": [{**shipped.__dict__, "id": "RTX-4090", "memory_gb": 48}]
    }))

    assert [d.id for d in hardware.list_devices() if d.id.lower() == "rtx-4090"] == ["RTX-4090"]
    assert hardware.get_device("rtx-4090").memory_gb == 48


def test_an_unknown_node_is_refused_when_the_device_file_loads(tmp_path: Path) -> None:
    # It loaded, and `hw port my-box --to n2` then blamed 'n0' on a command that never named it.
    path = write(tmp_path / "devices.json", {"devices": [{**MY_BOX, "node": "n0"}]})

    with pytest.raises(ValueError) as refused:
        hardware.load_devices(path)

    assert str(refused.value) == (
        f"{path}: devices row 1 is malformed: field 'node': unknown process node 'n0'; near "
        "matches: n7, n5, n2 (null for a process the node table lacks)"
    )
    with pytest.raises(hardware.UnknownNameError):
        hardware.get_device("my-box")


def test_a_device_node_in_another_case_is_the_node_tables_own(tmp_path: Path) -> None:
    hardware.load_devices(write(tmp_path / "devices.json", {"devices": [{**MY_BOX, "node": "N5"}]}))

    assert hardware.get_device("my-box").node == "n5"
    # The sweep looks nodes up by id: the device is ported, not skipped as nodeless.
    front = hardware.pareto_front(["llama-3.1-8b-instruct"], ["my-box"], nodes=["n2"])
    assert front.evaluated == 1
