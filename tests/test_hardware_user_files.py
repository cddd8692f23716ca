"""Users add devices and model architectures by file, through the API or the environment."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal import hardware, render
from shoal.json_output import non_finite_figure

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
    assert fit.memory_available_gb < MY_BOX["memory_gb"] * 2**30 / 1e9
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


def test_an_architecture_file_says_which_formats_keep_its_always_read_weights_apart(
    tmp_path: Path,
) -> None:
    shipped = hardware.get_architecture("qwen3-30b-a3b").__dict__
    row = {**shipped, "id": "my-moe", "hf_repo": None, "dense_bits_formats": ["mxfp4-moe"]}
    (mine,) = hardware.load_architectures(write(tmp_path / "arch.json", {"architectures": [row]}))
    mxfp4 = hardware.get_quantisation("MXFP4")

    assert mine.dense_bits_formats == ("MXFP4",)
    assert hardware.format_keywords(mxfp4, mine)["dense_bits_per_weight"] == 9.2
    kept_apart = hardware.hardware_fit("my-moe", "rtx-4090", quantisation="MXFP4")
    alike = hardware.hardware_fit("qwen3-30b-a3b", "rtx-4090", quantisation="MXFP4")
    assert kept_apart.memory_needed_gb == alike.memory_needed_gb
    assert kept_apart.decode_tokens_per_s < alike.decode_tokens_per_s


@pytest.mark.parametrize(
    ("model", "formats", "message"),
    [
        ("qwen3-30b-a3b", "MXFP4",
         "field 'dense_bits_formats' must be a list of weight formats (\"MXFP4\") or null, got "
         "'MXFP4'"),
        ("qwen3-30b-a3b", ["MXFP5"],
         "field 'dense_bits_formats': unknown quantisation 'MXFP5'; near matches: MXFP4, FP8"),
        # Either would change nothing: the format stores every weight alike, or the model
        # has no always-read parameters to store apart.
        ("qwen3-30b-a3b", ["Q4_K_M"],
         "field 'dense_bits_formats' names Q4_K_M, which has no dense_bits_per_weight: it "
         "stores every weight alike"),
        ("llama-3.1-8b-instruct", ["MXFP4"],
         "field 'dense_bits_formats' needs always-read parameters: 'dense_params_b', or "
         "'experts' and 'active_experts' to derive them"),
    ],
)
def test_a_malformed_dense_bits_formats_is_refused_by_row(
    tmp_path: Path, model: str, formats: object, message: str
) -> None:
    row = {**hardware.get_architecture(model).__dict__, "id": "my-model", "hf_repo": None,
           "dense_bits_formats": formats}
    path = write(tmp_path / "arch.json", {"architectures": [row]})

    with pytest.raises(ValueError) as refused:
        hardware.load_architectures(path)

    assert str(refused.value) == f"{path}: architectures row 1 is malformed: {message}"


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
                   "no space but ' '), got '\\u202e' in 'my-box\\u202e'")),
    ],
)
def test_a_malformed_device_file_names_the_row_and_field(
    tmp_path: Path, document: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        hardware.load_devices(write(tmp_path / "devices.json", document))

    assert "my-box" not in {device.id for device in hardware.list_devices()}


FAR_BELOW = "far below any machine, and estimates would not be finite"


@pytest.mark.parametrize(
    ("field", "figure", "message"),
    [
        # Each passed, and a fit printed "decode 0.0 tok/s ... energy inf J/token at about nan
        # W", --json wrote Infinity and `sweep --plot` failed converting infinity to an integer.
        ("bandwidth_gbs", 5e-324, "must be at least 0.1, got 5e-324"),
        ("bandwidth_gbs", 1e-300, "must be at least 0.1, got 1e-300"),
        ("bandwidth_gbs", 0.05, "must be at least 0.1, got 0.05"),
        ("fp16_tflops", 5e-324, "must be at least 0.001, got 5e-324"),
        ("int8_tops", 5e-324, "must be at least 0.001 (or 0 for none), got 5e-324"),
        ("power_w", 1e-300, "must be at least 0.1, got 1e-300"),
        ("memory_gb", 5e-324, "must be at least 0.1, got 5e-324"),
        ("die_area_mm2", 5e-324, "must be at least 1, got 5e-324"),
    ],
)
def test_a_device_figure_below_every_machine_is_refused_with_its_bound(
    tmp_path: Path, field: str, figure: float, message: str
) -> None:
    path = write(tmp_path / "devices.json", {"devices": [{**MY_BOX, field: figure}]})

    with pytest.raises(ValueError) as refused:
        hardware.load_devices(path)

    assert str(refused.value) == (
        f"{path}: devices row 1 is malformed: field '{field}' {message}: {FAR_BELOW}"
    )
    assert field in hardware.DEVICE_FIELD_MINIMUMS


def test_a_device_of_the_smallest_accepted_figures_gives_finite_estimates(
    tmp_path: Path,
) -> None:
    slowest_class = {
        **MY_CLASS,
        **dict.fromkeys(("usable_fraction", "power_fraction"), hardware.MIN_SHARE),
        **dict.fromkeys(("decode_efficiency", "decode_efficiency_low", "decode_efficiency_high",
                         "prefill_efficiency", "prefill_efficiency_low",
                         "prefill_efficiency_high"), hardware.MIN_EFFICIENCY),
    }
    hardware.load_devices(write(tmp_path / "devices.json", {
        "device_classes": [slowest_class],
        "devices": [{**MY_BOX, **hardware.DEVICE_FIELD_MINIMUMS, "device_class": "my-class",
                     "memory_type": None}],
    }))
    largest = max(hardware.list_architectures(), key=lambda arch: arch.params_b)

    fit = hardware.hardware_fit(largest.id, "my-box", quantisation="FP16",
                                context_tokens=hardware.MAX_CONTEXT_TOKENS,
                                batch=hardware.MAX_BATCH)
    front = hardware.pareto_front([largest.id, "gemma-3-1b-it"], ["my-box"],
                                  quantisations=["FP16", "Q4_0"], contexts=[1, 32768])
    port = hardware.port_chip("my-box", to_node="nanostack-claimed", models=["gemma-3-1b-it"])

    for result in (fit, front, port):
        assert non_finite_figure(dataclasses.asdict(result)) is None, result
    assert fit.decode_tokens_per_s > 0 and fit.joules_per_token > 0
    assert all(point.joules_per_token > 0 for point in front.points)


def test_a_device_of_the_largest_accepted_figures_gives_finite_estimates(tmp_path: Path) -> None:
    # Of a memory without an energy per bit: at 100,000,000 GB/s, GDDR6's 7.5 pJ would draw
    # 6,000,000 kW, more than the largest device power, and the file would be refused.
    hardware.load_devices(write(tmp_path / "devices.json", {
        "devices": [{**MY_BOX, **hardware.DEVICE_FIELD_LIMITS, "memory_type": None}]
    }))

    fit = hardware.hardware_fit("llama-3.1-8b-instruct", "my-box")

    assert math.isfinite(fit.prefill_tokens_per_s) and math.isfinite(fit.decode_tokens_per_s)
    assert math.isfinite(fit.joules_per_token)


def test_a_memory_interface_drawing_all_the_device_power_leaves_no_die_power_to_scale(
    tmp_path: Path,
) -> None:
    # 960 GB/s of GDDR6 at 7.5 pJ/bit is 57.6 W, the whole box's power.
    box = {**MY_BOX, "power_w": 57.6, "die_area_mm2": 300}
    hardware.load_devices(write(tmp_path / "d.json", {"devices": [box]}))

    chip = hardware.port_chip("my-box", to_node="nanostack-claimed", mode="iso-performance")

    assert chip.memory_interface_power_w == 57.6
    assert chip.die_power_w == 0.0 and chip.power_w == 57.6
    assert chip.power_density_w_per_mm2_before == 0.0
    assert "power density" not in render.ported_chip(chip)  # nothing to compare


def test_a_device_whose_memory_would_draw_more_than_the_device_is_refused(
    tmp_path: Path,
) -> None:
    # At 1,000 pJ/bit an RTX 4090 of 500 GB/s loaded, and its fit read "energy 43.6 J/token at
    # about 450 W" beside 91.8 tok/s: about 4 kW.
    slow_4090 = {**MY_BOX, "id": "rtx-4090", "memory_type": "GDDR6X", "bandwidth_gbs": 500,
                 "power_w": 450}
    path = write(tmp_path / "devices.json", {
        "dram_pj_per_bit": {"GDDR6X": {"value": 1000, "source": "a unit slip"}},
        "devices": [MY_BOX, slow_4090],
    })

    with pytest.raises(ValueError) as refused:
        hardware.load_devices(path)

    assert str(refused.value) == (
        f"{path}: devices row 2 ('rtx-4090'): its memory interface at full bandwidth would draw "
        "4,000 W (500 GB/s x 1,000 pJ/bit of GDDR6X), more than the device's power_w of 450 W; "
        "check the device's bandwidth_gbs and power_w and the energy per bit of GDDR6X"
    )
    assert hardware.get_device("rtx-4090").bandwidth_gbs == 1008  # the file changed nothing
    assert "my-box" not in {device.id for device in hardware.list_devices()}


def test_an_energy_per_bit_that_would_make_a_table_device_draw_more_than_itself_is_refused(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "devices.json",
                 {"dram_pj_per_bit": {"HBM3": {"value": 500, "source": "a unit slip"}}})

    with pytest.raises(ValueError) as refused:
        hardware.load_devices(path)

    # The H100 comes first of the HBM3 devices: 3,350 GB/s x 8 bits x 500 pJ is 13,400 W.
    assert str(refused.value) == (
        f"{path}: dram_pj_per_bit entry 'HBM3' would have the memory interface of 'h100-sxm' at "
        "full bandwidth draw 13,400 W (3,350 GB/s x 500 pJ/bit of HBM3), more than the device's "
        "power_w of 700 W; check the device's bandwidth_gbs and power_w and the energy per bit "
        "of HBM3"
    )
    assert hardware.hardware_fit("llama-3.1-8b-instruct", "h100-sxm").joules_per_token < 5


def test_no_fit_draws_more_than_its_device(tmp_path: Path) -> None:
    # The energy floor (the DRAM energy of the bytes a token moves) times the tokens per second
    # is at most the memory interface at full bandwidth, which is at most the device's power.
    for device in hardware.list_devices():
        fit = hardware.hardware_fit("llama-3.2-1b-instruct", device.id)
        assert fit.joules_per_token * fit.decode_batch_tokens_per_s <= device.power_w


def test_the_power_shown_with_an_energy_is_the_power_that_energy_takes(tmp_path: Path) -> None:
    # Memory that draws the box's whole 57.6 W makes the bytes' own energy the estimate, above
    # what the class's power fraction gives; the power shown must be the one that energy takes.
    box = {**MY_BOX, "power_w": 57.6}
    hardware.load_devices(write(tmp_path / "d.json", {"devices": [box]}))

    fit = hardware.hardware_fit("llama-3.1-8b-instruct", "my-box")

    assert fit.joules_per_token == fit.dram_joules_per_token  # the floor holds
    drawn_w = fit.joules_per_token * fit.decode_batch_tokens_per_s
    assert fit.average_power_w == pytest.approx(drawn_w, rel=1e-12)
    assert f"at about {drawn_w:.0f} W" in render.hardware_fit(fit)


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


SHIPPED_CLASS = next(
    row for row in json.loads((hardware.DATA_DIR / "devices.json").read_text(encoding="utf-8"))[
        "device_classes"] if row["id"] == "discrete_gpu"
)
MY_CLASS = {**SHIPPED_CLASS, "id": "my-class"}


def test_copies_of_the_shipped_tables_load_as_user_files() -> None:
    # Every field and top-level key the shipped tables use is one a user file may use.
    devices = hardware.load_devices(hardware.DATA_DIR / "devices.json")
    architectures = hardware.load_architectures(hardware.DATA_DIR / "architectures.json")

    assert {device.id for device in devices} == {device.id for device in hardware.list_devices()}
    assert len(architectures) == len(hardware.list_architectures())


@pytest.mark.parametrize(
    ("key", "document", "message"),
    [
        # A misspelt optional field loaded with its default (no INT8 peak, no vocabulary).
        ("devices", {"devices": [{**MY_BOX, "int8_top": 600}]},
         "devices row 1 is malformed: unknown field 'int8_top' (did you mean 'int8_tops'?)"),
        ("devices", {"devices": [{**MY_BOX, "wattage": 300}]},
         "devices row 1 is malformed: unknown field 'wattage'; allowed fields are id, name, "
         "device_class, memory_gb, memory_type, bandwidth_gbs, fp16_tflops, int8_tops, power_w, "
         "process, node, die_area_mm2, sram_mb, claim_type, source, as_of, notes"),
        ("devices", {"device_classes": [{**MY_CLASS, "decode_efficency_prior": 0.5}]},
         "device_classes row 1 is malformed: unknown field 'decode_efficency_prior' (did you "
         "mean 'decode_efficiency_prior'?)"),
        ("devices", {"devices": [MY_BOX], "dram_pj_per_bit": {"GDDR6": {"valeu": 7}}},
         "dram_pj_per_bit entry 'GDDR6': unknown field 'valeu' (did you mean 'value'?); an entry "
         "holds value and source"),
        ("devices", {"device": [MY_BOX]},
         "unknown top-level field 'device' (did you mean 'devices'?); a device file holds as_of, "
         "description, dram_pj_per_bit, devices, device_classes"),
        ("devices", {"devices": [MY_BOX], "descripton": "my lab"},
         "unknown top-level field 'descripton' (did you mean 'description'?)"),
        ("architectures", {"architectures": [], "architecture": []},
         "unknown top-level field 'architecture' (did you mean 'architectures'?); an "
         "architecture file holds as_of, description, claim_type, architectures"),
    ],
)
def test_an_unknown_field_is_refused_naming_the_row_the_field_and_its_near_match(
    tmp_path: Path, key: str, document: dict, message: str
) -> None:
    path = write(tmp_path / "table.json", document)
    load = hardware.load_devices if key == "devices" else hardware.load_architectures

    with pytest.raises(ValueError) as refused:
        load(path)

    assert str(refused.value).startswith(f"{path}: {message}")
    assert "\n" not in str(refused.value)
    assert "my-box" not in {device.id for device in hardware.list_devices()}
    assert "my-class" not in {klass.id for klass in hardware.list_device_classes()}


def test_an_unknown_architecture_field_is_refused_with_its_near_match(tmp_path: Path) -> None:
    shipped = hardware.get_architecture("llama-3.1-8b-instruct")
    row = {**shipped.__dict__, "id": "my-model", "vocab_sise": 128_256}
    del row["vocab_size"]
    path = write(tmp_path / "arch.json", {"architectures": [row]})

    with pytest.raises(ValueError) as refused:
        hardware.load_architectures(path)

    assert str(refused.value) == (
        f"{path}: architectures row 1 is malformed: unknown field 'vocab_sise' (did you mean "
        "'vocab_size'?)"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"usable_fraction": "0.9"},
         "field 'usable_fraction' must be a positive number, got '0.9'"),
        ({"usable_fraction": 90}, "field 'usable_fraction' must be at most 1, got 90"),
        ({"power_fraction": None}, "field 'power_fraction' must be a positive number, got null"),
        ({"decode_efficiency": math.nan},
         "field 'decode_efficiency' must be a positive number, got NaN"),
        ({"prefill_efficiency_high": math.inf},
         "field 'prefill_efficiency_high' must be a positive number, got Infinity"),
        ({"prefill_efficiency": 0}, "field 'prefill_efficiency' must be a positive number, got 0"),
        ({"decode_efficiency_high": 81.0},
         "field 'decode_efficiency_high' must be at most 10, got 81.0"),
        # A share of the compute peak: 2.48 once put every Mac's prefill range past its peak.
        ({"prefill_efficiency_high": 2.48},
         "field 'prefill_efficiency_high' must be at most 1, got 2.48"),
        ({"prefill_efficiency_prior": 1.5},
         "field 'prefill_efficiency_prior' must be at most 1, got 1.5"),
        ({"runtime_overhead_gb": True},
         "field 'runtime_overhead_gb' must be a number >= 0, got true"),
        ({"overhead_ms_low": -1}, "field 'overhead_ms_low' must be a number >= 0, got -1"),
        ({"overhead_ms": 1e6}, "field 'overhead_ms' must be at most 10,000, got 1000000.0"),
        ({"overhead_prior_ms": False},
         "field 'overhead_prior_ms' must be a number >= 0 or null, got false"),
        ({"decode_efficiency_prior": -0.5},
         "field 'decode_efficiency_prior' must be a positive number or null, got -0.5"),
        # Near 0, a step took forever (decode 0 tok/s) or a token cost nothing.
        ({"decode_efficiency_low": 5e-324},
         f"field 'decode_efficiency_low' must be at least 0.001, got 5e-324: {FAR_BELOW}"),
        ({"prefill_efficiency_low": 1e-300},
         f"field 'prefill_efficiency_low' must be at least 0.001, got 1e-300: {FAR_BELOW}"),
        ({"power_fraction": 5e-324},
         f"field 'power_fraction' must be at least 0.01, got 5e-324: {FAR_BELOW}"),
        ({"usable_fraction": 0.001},
         f"field 'usable_fraction' must be at least 0.01, got 0.001: {FAR_BELOW}"),
        ({"description": None}, "field 'description' must be a non-empty string"),
        ({"power_fraction_source": 3},
         "field 'power_fraction_source' must be a string or null, got 3"),
        ({"prefill_peak": "int4"}, "field 'prefill_peak' must be \"int8\" or \"fp16\", got 'int4'"),
        ({"decode_efficiency_low": 0.99, "decode_efficiency": 0.8},
         "field 'decode_efficiency_low' (0.99) must not exceed 'decode_efficiency' (0.8)"),
        ({"overhead_ms": 2.0, "overhead_ms_high": 1.0},
         "field 'overhead_ms' (2) must not exceed 'overhead_ms_high' (1)"),
    ],
)
def test_a_malformed_device_class_is_refused_naming_the_row_and_field(
    tmp_path: Path, change: dict, message: str
) -> None:
    # Each loaded unchecked: a string or NaN reached the estimates, false counted as 0.
    path = write(tmp_path / "devices.json", {
        "device_classes": [{**MY_CLASS, **change}],
        "devices": [{**MY_BOX, "device_class": "my-class"}],
    })

    with pytest.raises(ValueError) as refused:
        hardware.load_devices(path)

    assert str(refused.value) == f"{path}: device_classes row 1 is malformed: {message}"
    assert "my-class" not in {klass.id for klass in hardware.list_device_classes()}
    assert "my-box" not in {device.id for device in hardware.list_devices()}


def test_a_device_file_naming_one_device_class_twice_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "devices.json",
                 {"device_classes": [MY_CLASS, {**MY_CLASS, "usable_fraction": 0.5}]})

    with pytest.raises(ValueError) as refused:
        hardware.load_devices(path)

    assert str(refused.value) == (
        f"{path}: device_classes rows 1 and 2 have the same id ('my-class', in any case); give "
        "each device class one row"
    )


def test_a_user_device_class_is_used_by_its_devices(tmp_path: Path) -> None:
    slow = {**MY_CLASS, "decode_efficiency": 0.4, "decode_efficiency_low": 0.3,
            "decode_efficiency_high": 0.5}
    hardware.load_devices(write(tmp_path / "devices.json", {
        "device_classes": [slow], "devices": [{**MY_BOX, "device_class": "my-class"}],
    }))

    mine = hardware.hardware_fit("llama-3.1-8b-instruct", "my-box")
    hardware.load_devices(write(tmp_path / "shipped-class.json", {"devices": [MY_BOX]}))
    shipped = hardware.hardware_fit("llama-3.1-8b-instruct", "my-box")

    assert mine.decode_tokens_per_s < shipped.decode_tokens_per_s


@pytest.mark.parametrize(
    ("key", "row", "message"),
    [
        # Python's True, nan and None, which a JSON file spells true, NaN and null.
        ("devices", {**MY_BOX, "memory_gb": True},
         "field 'memory_gb' must be a positive number, got true"),
        ("devices", {**MY_BOX, "bandwidth_gbs": math.nan},
         "field 'bandwidth_gbs' must be a positive number, got NaN"),
        ("devices", {**MY_BOX, "power_w": None},
         "field 'power_w' must be a positive number, got null"),
        ("devices", {**MY_BOX, "memory_type": False},
         "field 'memory_type' must be a string or null, got false"),
        ("devices", {**MY_BOX, "claim_type": True},
         "field 'claim_type' must be an object naming the kind of claim of each figure "
         "(\"bandwidth\": \"vendor\"), got true"),
        ("devices", {**MY_BOX, "claim_type": {"memory": None}},
         "field 'claim_type' must be an object naming the kind of claim of each figure "
         "(\"bandwidth\": \"vendor\"), got {\"memory\": null}"),
        # false loaded as 0 of these, since Python counts it as 0.
        ("devices", {**MY_BOX, "int8_tops": False},
         "field 'int8_tops' must be a number >= 0 or null, got false"),
        ("devices", {**MY_BOX, "sram_mb": False},
         "field 'sram_mb' must be a number >= 0 or null, got false"),
        ("architectures", {"experts": False},
         "field 'experts' must be a number >= 0 or null, got false"),
        ("architectures", {"layers": math.inf}, "field 'layers' must be a positive number, got "
         "Infinity"),
        ("architectures", {"hf_repo": True}, "field 'hf_repo' must be a string or null, got true"),
    ],
)
def test_a_refused_value_is_shown_as_the_file_spells_it(
    tmp_path: Path, key: str, row: dict, message: str
) -> None:
    if key == "architectures":
        shipped = hardware.get_architecture("llama-3.1-8b-instruct").__dict__
        row = {**shipped, "id": "my-model", **row}
    path = write(tmp_path / "table.json", {key: [row]})
    load = hardware.load_devices if key == "devices" else hardware.load_architectures

    with pytest.raises(ValueError) as refused:
        load(path)

    assert str(refused.value) == f"{path}: {key} row 1 is malformed: {message}"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"devices": [], "description": ["my", "lab"]},
         "top-level field 'description' must be a string or null, got [\"my\", \"lab\"]"),
        ({"dram_pj_per_bit": {"LPDDR5X": 4.0}},
         "dram_pj_per_bit entry 'LPDDR5X' must be an object {\"value\": pJ per bit, \"source\": "
         "...}, got 4.0"),
        ({"dram_pj_per_bit": {"LPDDR5X": {"value": True}}},
         "dram_pj_per_bit entry 'LPDDR5X': field 'value' must be a number of pJ per bit from 0 "
         "to 1,000, got true"),
        ({"dram_pj_per_bit": {"LPDDR5X": {"value": 4000}}},
         "dram_pj_per_bit entry 'LPDDR5X': field 'value' must be a number of pJ per bit from 0 "
         "to 1,000, got 4000"),
        ({"dram_pj_per_bit": {"LPDDR5X": {"value": 4, "source": 7}}},
         "dram_pj_per_bit entry 'LPDDR5X': field 'source' must be a string, got 7"),
        ({"dram_pj_per_bit": [4.0]},
         "'dram_pj_per_bit' must be an object mapping each memory type to {\"value\": pJ per "
         "bit, \"source\": ...}, got [4.0]"),
    ],
)
def test_a_malformed_top_level_field_of_a_device_file_is_refused(
    tmp_path: Path, document: dict, message: str
) -> None:
    path = write(tmp_path / "devices.json", document)

    with pytest.raises(ValueError) as refused:
        hardware.load_devices(path)

    assert str(refused.value) == f"{path}: {message}"


def test_a_device_files_dram_energy_per_bit_prices_its_memory_interface(tmp_path: Path) -> None:
    # The shipped table has no LPDDR5X figure; the file's was ignored, so the memory interface
    # drew nothing.
    box = {**MY_BOX, "memory_type": "LPDDR5X", "bandwidth_gbs": 500}
    hardware.load_devices(write(tmp_path / "devices.json", {
        "dram_pj_per_bit": {"LPDDR5X": {"value": 4.0, "source": "our measurement"}},
        "devices": [box],
    }))

    chip = hardware.port_chip("my-box", to_node="n2", mode="iso-performance")

    # 500 GB/s x 8 bits x 4 pJ per bit.
    assert chip.memory_interface_power_w == pytest.approx(16.0)


# A text that clears the terminal (ESC [2J), reverses what follows (U+202E) and ends in a NUL.
HIDDEN = "evil\u001b[2J\u202ename\u0000"
HIDDEN_SHOWN = "got '\\x1b' in 'evil\\x1b[2J\\u202ename\\x00'"
PRINTABLE_ONLY = ("must hold only printable characters (no control or format characters, no "
                  "space but ' ')")


@pytest.mark.parametrize(
    ("key", "change", "field"),
    [
        ("devices", {"name": HIDDEN}, "name"),
        ("devices", {"memory_type": HIDDEN}, "memory_type"),
        ("devices", {"process": HIDDEN}, "process"),
        ("devices", {"source": HIDDEN}, "source"),
        ("devices", {"as_of": HIDDEN}, "as_of"),
        ("devices", {"notes": HIDDEN}, "notes"),
        ("devices", {"claim_type": {"bandwidth": HIDDEN}}, "claim_type"),
        ("devices", {"claim_type": {HIDDEN: "vendor"}}, "claim_type"),
        ("device_classes", {"description": HIDDEN}, "description"),
        ("device_classes", {"power_fraction_source": HIDDEN}, "power_fraction_source"),
        ("architectures", {"source": HIDDEN}, "source"),
        ("architectures", {"notes": HIDDEN}, "notes"),
        ("architectures", {"hf_repo": HIDDEN}, "hf_repo"),
        ("architectures", {"dense_params_source": HIDDEN}, "dense_params_source"),
    ],
)
def test_a_text_field_holding_a_character_that_does_not_print_is_refused_by_row_and_field(
    tmp_path: Path, key: str, change: dict, field: str
) -> None:
    # Each loaded and was printed raw by `shoal hw devices`, `hw port` and the MCP answers.
    if key == "architectures":
        shipped = hardware.get_architecture("llama-3.1-8b-instruct").__dict__
        document = {key: [{**shipped, "id": "my-model", **change}]}
    elif key == "device_classes":
        document = {key: [{**MY_CLASS, **change}]}
    else:
        document = {key: [{**MY_BOX, **change}]}
    path = write(tmp_path / "table.json", document)
    load = hardware.load_architectures if key == "architectures" else hardware.load_devices

    with pytest.raises(ValueError) as refused:
        load(path)

    assert str(refused.value) == (
        f"{path}: {key} row 1 is malformed: field '{field}' {PRINTABLE_ONLY}, {HIDDEN_SHOWN}"
    )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"devices": [], "description": HIDDEN},
         f"top-level field 'description' {PRINTABLE_ONLY}, {HIDDEN_SHOWN}"),
        ({"devices": [], "as_of": HIDDEN},
         f"top-level field 'as_of' {PRINTABLE_ONLY}, {HIDDEN_SHOWN}"),
        ({"dram_pj_per_bit": {HIDDEN: {"value": 4.0}}},
         "dram_pj_per_bit entry 'evil\\x1b[2J\\u202ename\\x00': the memory type "
         f"{PRINTABLE_ONLY}, {HIDDEN_SHOWN}"),
        ({"dram_pj_per_bit": {"LPDDR5X": {"value": 4.0, "source": HIDDEN}}},
         f"dram_pj_per_bit entry 'LPDDR5X': field 'source' {PRINTABLE_ONLY}, {HIDDEN_SHOWN}"),
    ],
)
def test_a_file_level_text_holding_a_character_that_does_not_print_is_refused(
    tmp_path: Path, document: dict, message: str
) -> None:
    path = write(tmp_path / "devices.json", document)

    with pytest.raises(ValueError) as refused:
        hardware.load_devices(path)

    assert str(refused.value) == f"{path}: {message}"


def test_an_architecture_files_claim_type_holding_a_hidden_character_is_refused(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "arch.json", {"architectures": [], "claim_type": HIDDEN})

    with pytest.raises(ValueError) as refused:
        hardware.load_architectures(path)

    assert str(refused.value) == (
        f"{path}: top-level field 'claim_type' {PRINTABLE_ONLY}, {HIDDEN_SHOWN}"
    )


def _with_repeated_key(row: dict, key: str, first: object) -> str:
    """``row`` as JSON text that gives ``key`` twice: ``first``, then the row's own value."""
    rest = json.dumps(row)[1:]
    return "{" + json.dumps(key) + ": " + json.dumps(first) + ", " + rest


@pytest.mark.parametrize(
    ("text", "place", "key"),
    [
        # Loaded as no devices at all: 'my-box' was then an unknown device.
        ('{"devices": [' + json.dumps(MY_BOX) + '], "devices": []}', "the top level",
         "devices"),
        # Loaded as the device of the second id.
        ('{"devices": [' + _with_repeated_key(MY_BOX, "id", "their-box") + "]}",
         "devices row 1", "id"),
        ('{"devices": [' + json.dumps({**MY_BOX, "claim_type": "CLAIM"}).replace(
            '"CLAIM"', '{"bandwidth": "vendor", "bandwidth": "measured"}') + "]}",
         "devices row 1 field 'claim_type'", "bandwidth"),
        ('{"dram_pj_per_bit": {"GDDR6": {"value": 7}, "GDDR6": {"value": 70}}}',
         "dram_pj_per_bit", "GDDR6"),
        ('{"dram_pj_per_bit": {"GDDR6": {"value": 7, "value": 70}}}',
         "dram_pj_per_bit entry 'GDDR6'", "value"),
        ('{"device_classes": [' + _with_repeated_key(MY_CLASS, "usable_fraction", 0.5) + "]}",
         "device_classes row 1", "usable_fraction"),
    ],
)
def test_a_device_file_giving_a_key_twice_is_refused_naming_where(
    tmp_path: Path, text: str, place: str, key: str
) -> None:
    path = tmp_path / "devices.json"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ValueError) as refused:
        hardware.load_devices(path)

    assert str(refused.value) == (f"{path}: {place} gives '{key}' more than once; give each key "
                                  "once (only the last would be read)")
    assert "my-box" not in {device.id for device in hardware.list_devices()}
    assert "their-box" not in {device.id for device in hardware.list_devices()}


def test_an_architecture_file_giving_a_key_twice_is_refused_naming_where(tmp_path: Path) -> None:
    row = {**hardware.get_architecture("llama-3.1-8b-instruct").__dict__, "id": "my-model"}
    path = tmp_path / "arch.json"
    path.write_text('{"architectures": [' + _with_repeated_key(row, "params_b", 80) + "]}",
                    encoding="utf-8")

    with pytest.raises(ValueError) as refused:
        hardware.load_architectures(path)

    assert str(refused.value) == (f"{path}: architectures row 1 gives 'params_b' more than once; "
                                  "give each key once (only the last would be read)")


@pytest.mark.parametrize(
    ("field", "spelling", "message"),
    [
        # Quoted as Infinity, which the file never said.
        ("memory_gb", "1e400", "must be a positive number, got 1e400"),
        ("power_w", "-1E400", "must be a positive number, got -1E400"),
        # Quoted as 0.0.
        ("bandwidth_gbs", "1e-400", "must be a positive number, got 1e-400"),
        ("sram_mb", "2.5e400", "must be a number >= 0 or null, got 2.5e400"),
        # Quoted as 309 digits cut in the middle, and as 10000000.0.
        ("memory_gb", "1e+308", "must be at most 1,000,000, got 1e+308"),
        ("memory_gb", "1E7", "must be at most 1,000,000, got 1E7"),
        # Quoted as 0.0025.
        ("bandwidth_gbs", "2.5e-3", f"must be at least 0.1, got 2.5e-3: {FAR_BELOW}"),
        ("power_w", "-5.00", "must be a positive number, got -5.00"),
    ],
)
def test_a_refused_number_is_quoted_as_the_file_spells_it(
    tmp_path: Path, field: str, spelling: str, message: str
) -> None:
    path = tmp_path / "devices.json"
    path.write_text(json.dumps({"devices": [{**MY_BOX, field: "NUMBER"}]}).replace(
        '"NUMBER"', spelling), encoding="utf-8")

    with pytest.raises(ValueError) as refused:
        hardware.load_devices(path)

    assert str(refused.value) == f"{path}: devices row 1 is malformed: field '{field}' {message}"


@pytest.mark.parametrize("repository", ["", "not a repo", "meta-llama", "a/b/c", "/name"])
def test_an_architecture_whose_repository_is_no_owner_and_name_is_refused(
    tmp_path: Path, repository: str
) -> None:
    # Each loaded: a model named by no repository anyone could type.
    shipped = hardware.get_architecture("llama-3.1-8b-instruct").__dict__
    path = write(tmp_path / "arch.json",
                 {"architectures": [{**shipped, "id": "my-model", "hf_repo": repository}]})

    with pytest.raises(ValueError) as refused:
        hardware.load_architectures(path)

    assert str(refused.value) == (
        f"{path}: architectures row 1 is malformed: field 'hf_repo' must be a Hugging Face "
        "repository id, owner/name (letters, digits, '-', '_' and '.'), or null, got "
        f"{repository!r}"
    )


def test_an_architecture_with_an_owner_and_name_repository_or_none_loads(tmp_path: Path) -> None:
    shipped = hardware.get_architecture("llama-3.1-8b-instruct").__dict__
    rows = [{**shipped, "id": "mine", "hf_repo": "01-ai/Yi_1.5-9B.v2"},
            {**shipped, "id": "unpublished", "hf_repo": None}]
    hardware.load_architectures(write(tmp_path / "arch.json", {"architectures": rows}))

    assert hardware.get_architecture("https://huggingface.co/01-ai/yi_1.5-9b.v2").id == "mine"
    assert hardware.get_architecture("unpublished").hf_repo is None
