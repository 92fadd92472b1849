"""The board model (datasheet as data), the board description parser and ``wisgate check``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from wisgate.board.check import Finding, check_board, power_budget
from wisgate.board.description import BoardDescription, load_description, parse_description
from wisgate.board.example import EXAMPLE_TOML
from wisgate.board.modules import MODULES, find_module, suggestions
from wisgate.board.rak7391 import (
    ADC_ADDRESS_RESISTORS,
    EXTERNAL_BUS_MOVE,
    J39_JUMPERS,
    ONBOARD_ADDRESSES,
    expander_resistors,
)
from wisgate.board.slots import SLOT_KEYS
from wisgate.cli import cli
from wisgate.errors import ConfigError

EXAMPLE_PATH = Path(__file__).resolve().parents[1] / "docs" / "examples" / "board.toml"


def describe(body: str = "", power: str = 'input = "poe-bt"') -> BoardDescription:
    return parse_description(f"[power]\n{power}\n" + textwrap.dedent(body))


def codes(desc: BoardDescription) -> list[str]:
    return [f.code for f in check_board(desc)]


def only(desc: BoardDescription, code: str) -> Finding:
    found = [f for f in check_board(desc) if f.code == code]
    assert len(found) == 1, check_board(desc)
    return found[0]


def i2c(name: str, slot: str, address: int, alternatives: tuple[int, ...] = ()) -> str:
    alts = ", ".join(f"0x{a:02X}" for a in alternatives)
    return f'[[i2c]]\nname = "{name}"\nslot = "{slot}"\naddress = 0x{address:02X}\nalternatives = [{alts}]\n'


# --- the datasheet as data -------------------------------------------------------------------------------------


def test_onboard_addresses_match_the_datasheet_table() -> None:
    assert ONBOARD_ADDRESSES == {
        "oled": 0x3C,
        "expander1": 0x27,
        "expander2": 0x26,
        "adc": 0x4B,
        "fan": 0x2F,
        "temperature_sensor": 0x70,
        "rtc": 0x51,
        "secure_element": 0x60,
    }
    assert ADC_ADDRESS_RESISTORS == {0x48: "R650", 0x49: "R647", 0x4A: "R649", 0x4B: "R648"}


def test_expander_resistor_rows_match_the_datasheet() -> None:
    assert expander_resistors("expander1", 0x27) == "R701=4.7K, R704=NC, R702=4.7K, R705=NC, R703=4.7K, R706=NC"
    assert expander_resistors("expander1", 0x20) == "R701=NC, R704=4.7K, R702=NC, R705=4.7K, R703=NC, R706=4.7K"
    # The datasheet prints "4.7" here; the pattern of the other rows says 4.7K.
    assert expander_resistors("expander1", 0x21) == "R701=4.7K, R704=NC, R702=NC, R705=4.7K, R703=NC, R706=4.7K"
    assert expander_resistors("expander2", 0x26) == "R633=NC, R634=4.7K, R635=4.7K, R636=NC, R637=4.7K, R638=NC"
    # The datasheet's U133 0x27 row repeats U134's resistors; U133's own are R633-R638.
    assert expander_resistors("expander2", 0x27) == "R633=4.7K, R634=NC, R635=4.7K, R636=NC, R637=4.7K, R638=NC"
    with pytest.raises(ValueError, match="0x28"):
        expander_resistors("expander1", 0x28)


def test_j39_jumpers_pair_pins_1_to_12() -> None:
    assert [j.pins for j in J39_JUMPERS] == [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12)]
    assert [j.key for j in J39_JUMPERS] == ["emmc-flash", "eeprom-nwp", "wifi-off", "bt-off", "wake-up", "buzzer-on"]


def test_module_catalogue_names_real_slots_and_draws() -> None:
    for module in MODULES:
        assert module.slots and set(module.slots) <= set(SLOT_KEYS), module
        assert module.watts >= 0
    assert {m.name for m in MODULES if m.lora_concentrator} >= {"RAK2247-SPI", "RAK2287-USB", "RAK5146-SPI"}
    assert all(set(m.slots) == {"mpcie1", "mpcie2"} for m in MODULES if m.lora_concentrator)


def test_module_lookup_ignores_case_and_separators() -> None:
    assert find_module("rak5146 spi") is find_module("RAK5146-SPI")
    assert find_module("Quectel EC25") is find_module("EC25")
    assert find_module("google coral") is find_module("Coral-TPU")
    assert find_module("RAK9999") is None
    assert suggestions("RAK5146") == ["RAK5146-SPI", "RAK5146-USB"]


# --- parsing -----------------------------------------------------------------------------------------------------


def test_example_file_is_the_printed_example_and_passes_clean() -> None:
    assert EXAMPLE_PATH.read_text(encoding="utf-8") == EXAMPLE_TOML
    desc = load_description(EXAMPLE_PATH)
    assert check_board(desc) == []
    assert desc.board.jumpers == ["buzzer-on", "wake-up"]
    assert desc.slots.hat is not None and desc.slots.hat.watts == 0.5


def test_minimal_description_takes_datasheet_defaults() -> None:
    desc = describe()
    assert desc.board.adc_address == 0x4B
    assert (desc.board.expander1_address, desc.board.expander2_address) == (0x27, 0x26)
    assert desc.board.external_i2c == "i2c1"
    assert desc.slots.filled() == []


def test_slot_shorthand_and_table_forms() -> None:
    desc = describe('[slots]\nmpcie1 = "RAK5146-SPI"\nmpcie3 = { module = "custom", watts = 3 }\nm2 = ""\n')
    assert [(k, e.module, e.watts) for k, e in desc.slots.filled()] == [
        ("mpcie1", "RAK5146-SPI", None),
        ("mpcie3", "custom", 3.0),
    ]


def test_jumpers_by_pins_or_name() -> None:
    desc = describe('[board]\njumpers = ["11-12", "WiFi OFF", "wake_up"]\n')
    assert desc.board.jumpers == ["buzzer-on", "wifi-off", "wake-up"]


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (
            "[board]\nadc_address = 0x4C\n",
            "board.adc_address: the ADC's resistors allow only 0x48 (R650), 0x49 (R647), 0x4A (R649), 0x4B (R648)",
        ),
        ("[board]\nexpander1_address = 0x28\n", "board.expander1_address: a TPT29555's resistors allow only 0x20-0x27"),
        (i2c("x", "hat", 0x10).replace("0x10", "0x78"), "i2c[0].address: 0x78 is outside the usable 7-bit range"),
        (
            i2c("x", "m2", 0x40),
            "i2c[0].slot: should be 'wisblock1', 'wisblock2', 'hat', 'mpcie1', 'mpcie2' or 'mpcie3'",
        ),
        ("[slots]\nmpcie1 = 3\n", "slots.mpcie1: a slot holds a module name"),
        ("[slots]\nmpcie4 = 'x'\n", "slots.mpcie4: unknown field (misspelt?)"),
        ("[board]\njumpers = ['13-14']\n", "board.jumpers[0]: '13-14' is not a J39 jumper"),
        ("[board]\nfan = 'yes'\n", "board.fan: should be 'none', '5v' or '12v'"),
    ],
)
def test_invalid_fields_are_named_in_one_line(body: str, line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        describe(body)
    message = str(caught.value)
    assert message.startswith(f"board description: {line}")
    assert "\n" not in message


def test_several_problems_one_line_each() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_description('[power]\ninput = "ac"\nvolt = 3\n', source="b.toml")
    assert str(caught.value).splitlines() == [
        "b.toml: 2 problems:",
        "  power.input: 'ac' is not a power input; use one of dc, phoenix, poe-at, poe-bt",
        "  power.volt: unknown field (misspelt?); did you mean 'voltage'?",
    ]


def test_missing_power_and_bad_toml() -> None:
    with pytest.raises(ConfigError, match=r"^x\.toml: power: missing \(required\)$"):
        parse_description("", source="x.toml")
    with pytest.raises(ConfigError, match=r"^x\.toml: invalid TOML: .*line 1"):
        parse_description("[power\n", source="x.toml")


def test_unreadable_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^cannot read .*nope\.toml: No such file or directory$"):
        load_description(tmp_path / "nope.toml")


@given(st.integers(0x08, 0x77), st.sampled_from(["0x{:02X}", "0x{:02x}", "{:d}"]), st.booleans())
def test_any_usable_address_parses_from_int_or_text(address: int, form: str, as_int: bool) -> None:
    value = str(address) if as_int else f'"{form.format(address)}"'
    desc = describe(f'[[i2c]]\nname = "d"\nslot = "hat"\naddress = {value}\n')
    assert desc.i2c[0].address == address


@given(st.one_of(st.integers(0, 0x07), st.integers(0x78, 0x3FF)))
def test_reserved_or_ten_bit_addresses_are_rejected(address: int) -> None:
    with pytest.raises(ConfigError, match=r"i2c\[0\]\.address: 0x[0-9A-F]+ is outside"):
        describe(f'[[i2c]]\nname = "d"\nslot = "hat"\naddress = {address}\n')


@given(st.sampled_from(J39_JUMPERS), st.booleans())
def test_any_jumper_parses_by_pins_or_key(jumper: object, by_pins: bool) -> None:
    assert hasattr(jumper, "pins") and hasattr(jumper, "key")
    text = f"{jumper.pins[0]}-{jumper.pins[1]}" if by_pins else jumper.key.upper()
    assert describe(f'[board]\njumpers = ["{text}"]\n').board.jumpers == [jumper.key]


# --- slots and modules ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slot", "module", "fits"),
    [
        (
            "mpcie3",
            "RAK5146-SPI",
            "it fits mPCIe #1, mPCIe #2 (datasheet mPCIe table; mPCIe #3 and M.2 carry no LoRa concentrator)",
        ),
        ("m2", "RAK2287-USB", "it fits mPCIe #1, mPCIe #2"),
        ("mpcie1", "EC25", "it fits mPCIe #2 (datasheet mPCIe table)"),
        ("m2", "Hailo-8", "it fits mPCIe #3"),
        ("mpcie1", "RAK5801", "it fits WisBlock IO slot 1, WisBlock IO slot 2"),
        ("wisblock1", "NVMe", "it fits M.2 B-key (datasheet M.2 table)"),
        ("hat", "RAK5146-USB", "it fits mPCIe #1, mPCIe #2"),
    ],
)
def test_module_in_wrong_slot_names_the_compatible_slots(slot: str, module: str, fits: str) -> None:
    finding = only(describe(f'[slots]\n{slot} = "{module}"\n'), "slot-incompatible")
    assert finding.level == "error"
    assert fits in finding.message
    assert finding.fix.startswith("move it to ")


@pytest.mark.parametrize(
    ("slot", "module"),
    [
        ("mpcie1", "RAK5146-SPI"),
        ("mpcie2", "EC25"),
        ("mpcie2", "RAK8213-USB"),
        ("mpcie3", "RAK8213-USB"),
        ("mpcie3", "Coral"),
        ("m2", "RM510Q"),
        ("wisblock2", "RAK5802"),
        ("wisblock1", "RAK13001"),
    ],
)
def test_module_in_a_compatible_slot_passes(slot: str, module: str) -> None:
    assert "slot-incompatible" not in codes(describe(f'[slots]\n{slot} = "{module}"\n'))


def test_unknown_module_warns_and_suggests_variants() -> None:
    finding = only(describe('[slots]\nmpcie1 = "RAK5146"\n'), "module-unknown")
    assert finding.level == "warning"
    assert finding.fix.startswith("did you mean RAK5146-SPI or RAK5146-USB?")
    assert "module-unknown" not in codes(describe('[slots]\nmpcie1 = { module = "RAK5146", watts = 1.5 }\n'))


def test_more_than_four_concentrators_is_an_error() -> None:
    usb = "".join(f'[[usb]]\nname = "gw{i}"\nport = "usb3-{1 + i % 2}"\nmodule = "RAK5146-USB"\n' for i in range(3))
    slots = '[slots]\nmpcie1 = "RAK5146-SPI"\nmpcie2 = "RAK2287-SPI"\n'
    finding = only(describe(slots + usb), "lora-count")
    assert finding.message.startswith("5 LoRa concentrators (mPCIe #1 RAK5146-SPI, mPCIe #2 RAK2287-SPI, usb3-1")
    assert "up to 4 separate modules" in finding.message
    assert "lora-count" not in codes(describe(slots + usb.rsplit("[[usb]]", 1)[0]))


def test_two_spi_modules_on_one_spidev_warn() -> None:
    finding = only(describe('[slots]\nmpcie1 = "RAK5146-SPI"\nwisblock1 = "RAK13300"\n'), "spi-shared")
    assert finding.message.startswith(
        "mPCIe #1 RAK5146-SPI and WisBlock IO slot 1 RAK13300 would both use /dev/spidev0.0"
    )
    assert "spi-shared" not in codes(describe('[slots]\nmpcie1 = "RAK5146-SPI"\nwisblock2 = "RAK13300"\n'))
    assert "spi-shared" not in codes(describe('[slots]\nmpcie1 = "RAK5146-USB"\nwisblock1 = "RAK13300"\n'))


def test_pcie_shared_devices_used_together_warn() -> None:
    finding = only(describe('[board]\nethernet_2g5 = true\n[slots]\nm2 = "NVMe"\n'), "pcie-shared")
    assert finding.level == "warning"
    assert finding.message.startswith("2.5 GbE, M.2 B-key NVMe share the CM4's single PCIe lane")
    assert "1.8-2.0 Gbps" in finding.message
    usb3 = '[[usb]]\nname = "disk"\nport = "usb3-2"\nma = 500\n'
    assert (
        "USB3 ports (usb3-2), mPCIe #3 Hailo-8"
        in only(describe('[slots]\nmpcie3 = "Hailo-8"\n' + usb3), "pcie-shared").message
    )
    assert "pcie-shared" not in codes(describe('[slots]\nm2 = "NVMe"\n'))
    assert "pcie-shared" not in codes(describe('[slots]\nm2 = "NVMe"\n[[usb]]\nname = "k"\nport = "usb2"\nma = 100\n'))


# --- I2C --------------------------------------------------------------------------------------------------------


def test_collision_with_the_adc_names_its_resistor_move() -> None:
    finding = only(describe(i2c("ADS1115", "hat", 0x4B)), "i2c-collision")
    assert finding.level == "error"
    assert finding.message == ("ADS1115 (Raspberry Pi HAT) at 0x4B collides with the onboard ADC (SGM58031) on i2c1")
    assert finding.fix == (
        "move the ADC's address resistor from R648 to R649 (ADC at 0x4A) and give software the new address; or "
        + EXTERNAL_BUS_MOVE
    )


def test_adc_fix_skips_addresses_already_used_on_the_bus() -> None:
    desc = describe(i2c("ADS1115", "hat", 0x4B) + i2c("TMP102", "wisblock1", 0x4A) + '[slots]\nwisblock1 = "RAK5804"\n')
    assert only(desc, "i2c-collision").fix.startswith("move the ADC's address resistor from R648 to R647 (ADC at 0x49)")


def test_collision_with_expander1_names_the_free_address_and_its_resistors() -> None:
    finding = only(describe(i2c("MCP23008", "hat", 0x27)), "i2c-collision")
    assert (
        finding.message
        == "MCP23008 (Raspberry Pi HAT) at 0x27 collides with the onboard GPIO expander #1 (U134) (TPT29555) on i2c1"
    )
    assert finding.fix == (
        "re-strap GPIO expander #1 (U134) to 0x25 with R701=4.7K, R704=NC, R702=NC, R705=4.7K, R703=4.7K, "
        "R706=NC, and set 0x25 in the device-tree overlay (pca953x addr= or rak7391.dtbo); or " + EXTERNAL_BUS_MOVE
    )


def test_collision_with_expander2_uses_u133_resistors() -> None:
    finding = only(describe(i2c("PCF8574", "wisblock2", 0x26) + '[slots]\nwisblock2 = "RAK5804"\n'), "i2c-collision")
    assert finding.fix.startswith(
        "re-strap GPIO expander #2 (U133) to 0x25 with R633=4.7K, R634=NC, R635=NC, R636=4.7K, R637=4.7K, R638=NC,"
    )


def test_no_free_expander_address_leaves_only_the_bus_move() -> None:
    body = "".join(i2c(f"io{a:02x}", "hat", a) for a in (0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x27))
    collisions = [f for f in check_board(describe(body)) if f.code == "i2c-collision"]
    assert [f.fix for f in collisions] == [EXTERNAL_BUS_MOVE]


def test_collision_with_a_fixed_address_device_offers_the_bus_move_and_own_straps() -> None:
    finding = only(describe(i2c("SHT31", "wisblock1", 0x70) + '[slots]\nwisblock1 = "RAK5804"\n'), "i2c-collision")
    assert "onboard PCB temperature sensor (SHTC3)" in finding.message
    assert finding.fix == EXTERNAL_BUS_MOVE
    strappable = describe(i2c("SSD1306", "hat", 0x3C, (0x3C, 0x3D)))
    assert only(strappable, "i2c-collision").fix == "strap SSD1306 to 0x3D; or " + EXTERNAL_BUS_MOVE


def test_bus_move_text_is_the_datasheet_procedure() -> None:
    for part in ("R718/R719 to R716/R717", "R720/R721 to 4.7K", "remove R722/R723", "i2c3, GPIO4/GPIO5"):
        assert part in EXTERNAL_BUS_MOVE


def test_resistor_options_move_the_onboard_addresses() -> None:
    moved = "[board]\nadc_address = 0x48\nexpander1_address = 0x24\n"
    assert "i2c-collision" not in codes(describe(moved + i2c("a", "hat", 0x4B) + i2c("b", "hat", 0x27)))
    assert only(describe(moved + i2c("a", "hat", 0x48)), "i2c-collision").fix.startswith(
        "move the ADC's address resistor from R650 to R648 (ADC at 0x4B)"
    )
    assert "i2c-collision" in codes(describe(moved + i2c("b", "hat", 0x24)))


def test_external_bus_on_i2c3_cannot_collide_with_onboard_devices() -> None:
    body = '[board]\nexternal_i2c = "i2c3"\n' + i2c("a", "hat", 0x4B) + i2c("b", "hat", 0x70)
    assert codes(describe(body)) == []


def test_both_expanders_on_one_address_is_an_error() -> None:
    finding = only(describe("[board]\nexpander2_address = 0x27\n"), "i2c-onboard-collision")
    assert finding.message == "both GPIO expanders are strapped to 0x27"
    assert finding.fix.startswith("re-strap GPIO expander #2 (U133) to 0x26 with R633=NC, R634=4.7K")


def test_two_external_devices_on_one_address_collide_on_either_bus() -> None:
    body = (
        i2c("BME280", "hat", 0x76, (0x76, 0x77)) + i2c("BMP280", "mpcie1", 0x76) + '[slots]\nmpcie1 = "RAK5146-SPI"\n'
    )
    for bus in ("i2c1", "i2c3"):
        finding = only(describe(f'[board]\nexternal_i2c = "{bus}"\n' + body), "i2c-external-collision")
        assert finding.message.startswith(
            f"BME280 (Raspberry Pi HAT) and BMP280 (mPCIe #1) both use 0x76 on the external bus ({bus})"
        )
        assert finding.fix == "strap BME280 to 0x77"
    plain = i2c("a", "hat", 0x40) + i2c("b", "hat", 0x40)
    assert only(describe(plain), "i2c-external-collision").fix == "give one of them another address with its own straps"
    assert "i2c-external-collision" not in codes(describe(i2c("a", "hat", 0x40) + i2c("b", "hat", 0x41)))


def test_device_on_an_empty_slot_warns() -> None:
    assert only(describe(i2c("x", "mpcie3", 0x40)), "i2c-slot-empty").level == "warning"
    assert "i2c-slot-empty" not in codes(describe(i2c("x", "hat", 0x40)))


# --- power ------------------------------------------------------------------------------------------------------

TWO_GATEWAYS = '[slots]\nmpcie1 = "RAK5146-SPI"\nmpcie2 = "RAK5146-USB"\n'


def test_poe_at_over_30_w_is_an_error_with_the_sum_itemised() -> None:
    desc = describe(TWO_GATEWAYS + '[board]\nfan = "5v"\n', power='input = "poe-at"')
    finding = only(desc, "power-budget")
    assert finding.level == "error"
    assert finding.message == (
        "estimated draw exceeds the 30 W limit (PoE 802.3at module, 12 V 2.5 A): CM4 25 W + carrier board 2 W + "
        "mPCIe #1 RAK5146-SPI 1.5 W + mPCIe #2 RAK5146-USB 1.5 W + fan (5v) 1 W = 31 W"
    )
    assert finding.fix == "use a PoE 802.3bt module (72 W) or a DC/Phoenix supply, or remove loads"
    assert power_budget(desc).total == pytest.approx(31.0)


def test_poe_at_at_its_limit_only_warns() -> None:
    desc = describe(TWO_GATEWAYS, power='input = "poe-at"')
    assert power_budget(desc).total == pytest.approx(30.0)
    assert codes(desc) == ["power-margin"]


def test_poe_bt_takes_72_w() -> None:
    assert codes(describe(TWO_GATEWAYS + '[board]\nfan = "5v"\n')) == []
    loads = '[[loads]]\nname = "heater"\nwatts = 41\n'
    assert codes(describe(loads)) == ["power-margin"]  # 25 + 2 + 41 = 68 W of 72 W
    finding = only(describe(loads.replace("41", "46")), "power-budget")
    assert "the 72 W limit (PoE 802.3bt module, 12 V 6 A)" in finding.message
    assert finding.message.endswith("heater 46 W = 73 W")


def test_dc_budget_uses_the_supply_rating_or_warns_without_one() -> None:
    dc = 'input = "dc"\nvoltage = 24'
    assert codes(describe(TWO_GATEWAYS, power=dc + "\nsupply_watts = 60")) == []
    over = only(describe(TWO_GATEWAYS, power=dc + "\nsupply_watts = 24"), "power-budget")
    assert over.fix == "use a larger supply, or remove loads"
    unrated = only(describe(TWO_GATEWAYS, power=dc), "power-unrated")
    assert unrated.level == "warning" and unrated.message.endswith("= 30 W; the supply's rating is unknown")


def test_budget_counts_overrides_usb_hdmi_and_leaves_out_unknowns() -> None:
    body = (
        '[board]\nhdmi_ma = 400\nfan = "12v"\nfan_watts = 3\n[slots]\nm2 = { module = "NVMe", watts = 7 }\n'
        'mpcie3 = "mystery"\n[[usb]]\nname = "disk"\nport = "usb3-1"\nma = 900\n'
    )
    budget = power_budget(describe(body))
    assert [(i.label, round(i.watts, 2)) for i in budget.items] == [
        ("CM4", 25.0),
        ("carrier board", 2.0),
        ("M.2 B-key NVMe", 7.0),
        ("fan (12v)", 3.0),
        ("usb3-1 disk", 4.5),
        ("HDMI", 2.0),
    ]
    no_cm4 = describe("[board]\ncm4 = false\n")
    assert [i.label for i in power_budget(no_cm4).items] == ["carrier board"]
    assert only(no_cm4, "cm4-missing").level == "warning"


@pytest.mark.parametrize(
    ("power", "bad"),
    [
        ('input = "dc"\nvoltage = 9.5', True),
        ('input = "dc"\nvoltage = 10', False),
        ('input = "phoenix"\nvoltage = 28', False),
        ('input = "phoenix"\nvoltage = 28.5', True),
        ('input = "poe-at"\nvoltage = 40', True),
        ('input = "poe-bt"\nvoltage = 57', False),
    ],
)
def test_input_voltage_range(power: str, bad: bool) -> None:
    desc = describe(power=power + "\nsupply_watts = 100")
    assert ("power-voltage" in codes(desc)) is bad


def test_voltage_message_names_the_range() -> None:
    finding = only(describe(power='input = "dc"\nvoltage = 36\nsupply_watts = 60'), "power-voltage")
    assert finding.message == "36 V on the DC jack is outside its 10-28 V range (datasheet)"


def test_only_one_power_input_at_a_time() -> None:
    finding = only(describe(power='input = ["dc", "poe-at"]\nvoltage = 12\nsupply_watts = 60'), "power-inputs")
    assert finding.level == "error"
    assert "DC jack, PoE 802.3at module" in finding.message
    assert "power-inputs" not in codes(describe(power='input = ["poe-bt"]'))


@pytest.mark.parametrize(
    ("power", "level"),
    [
        ('input = "poe-at"', None),
        ('input = "poe-bt"', None),
        ('input = "dc"\nvoltage = 24\nsupply_watts = 60', "error"),
        ('input = "phoenix"\nvoltage = 12\nsupply_watts = 60', "warning"),
        ('input = "dc"\nsupply_watts = 60', "warning"),
    ],
)
def test_twelve_volt_fan_needs_poe(power: str, level: str | None) -> None:
    found = [f for f in check_board(describe('[board]\nfan = "12v"\n', power=power)) if f.code == "twelve-volt"]
    assert [f.level for f in found] == ([level] if level else [])


def test_twelve_volt_error_explains_the_input_passes_through() -> None:
    finding = only(
        describe(
            '[[loads]]\nname = "siren"\nwatts = 3\nrail = "12v"\n',
            power='input = "dc"\nvoltage = 24\nsupply_watts = 60',
        ),
        "twelve-volt",
    )
    assert finding.message.startswith("load 'siren' on the 12 V pins would get the 24 V of the DC jack")
    assert "12 V out needs PoE" in finding.message
    assert "twelve-volt" not in codes(describe('[board]\nfan = "5v"\n', power='input = "dc"\nvoltage = 24'))


@pytest.mark.parametrize(
    ("port", "ma", "bad"), [("usb2", 500, False), ("usb2", 501, True), ("usb3-1", 1000, False), ("usb3-2", 1001, True)]
)
def test_usb_vbus_limits(port: str, ma: int, bad: bool) -> None:
    desc = describe(f'[[usb]]\nname = "d"\nport = "{port}"\nma = {ma}\n')
    assert ("usb-current" in codes(desc)) is bad


def test_usb_devices_on_one_port_add_up() -> None:
    two = '[[usb]]\nname = "a"\nport = "usb2"\nma = 300\n[[usb]]\nname = "b"\nport = "usb2"\nma = 300\n'
    finding = only(describe(two), "usb-current")
    assert finding.message == "usb2 draws 600 mA; its VBUS current-limit switch is set to about 500 mA (datasheet)"


def test_hdmi_limit() -> None:
    assert "hdmi-current" in codes(describe("[board]\nhdmi_ma = 600\n"))
    assert "hdmi-current" not in codes(describe("[board]\nhdmi_ma = 500\n"))


def test_emmc_flash_jumper_warns() -> None:
    assert only(describe('[board]\njumpers = ["1-2"]\n'), "jumper-emmc-flash").level == "warning"
    assert codes(describe('[board]\njumpers = ["buzzer-on", "wifi-off"]\n')) == []


def test_errors_come_before_warnings() -> None:
    desc = describe("[board]\ncm4 = false\nhdmi_ma = 900\n")
    assert [f.level for f in check_board(desc)] == ["error", "warning"]


# --- CLI ----------------------------------------------------------------------------------------------------------


def test_cli_example_file_exits_0() -> None:
    result = CliRunner().invoke(cli, ["check", str(EXAMPLE_PATH)])
    assert result.exit_code == 0, result.output
    assert "estimated draw 39.6 W of 72 W (PoE 802.3bt module, 12 V 6 A)" in result.output
    assert "OK: no problems found" in result.output


def test_cli_prints_the_example() -> None:
    result = CliRunner().invoke(cli, ["check", "--example"])
    assert result.exit_code == 0
    assert result.output == EXAMPLE_TOML


def test_cli_errors_exit_1_with_fix(tmp_path: Path) -> None:
    config = tmp_path / "b.toml"
    config.write_text('[power]\ninput = "poe-at"\n' + i2c("MCP23008", "hat", 0x27), encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", str(config)])
    assert result.exit_code == 1
    assert "error i2c-collision: MCP23008 (Raspberry Pi HAT) at 0x27" in result.output
    assert "fix: re-strap GPIO expander #1 (U134) to 0x25 with R701=4.7K" in result.output
    assert "1 error, 1 warning" in result.output  # plus the PoE AT margin warning


def test_cli_warnings_only_exit_0(tmp_path: Path) -> None:
    config = tmp_path / "b.toml"
    config.write_text('[power]\ninput = "dc"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", str(config)])
    assert result.exit_code == 0
    assert "warning power-unrated" in result.output


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[power\n", "invalid TOML: Expected ']' at the end of a table declaration (at line 1, column 7)"),
        ('[power]\ninput = "ac"\n', "power.input: 'ac' is not a power input; use one of dc, phoenix, poe-at, poe-bt"),
    ],
)
def test_cli_invalid_description_is_one_line(tmp_path: Path, text: str, line: str) -> None:
    config = tmp_path / "b.toml"
    config.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", str(config)])
    assert result.exit_code == 1
    assert result.output == f"Error: {config}: {line}\n"


def test_cli_missing_file_and_missing_argument(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["check", str(tmp_path / "none.toml")])
    assert result.exit_code == 1
    assert result.output == f"Error: cannot read {tmp_path / 'none.toml'}: No such file or directory\n"
    assert CliRunner().invoke(cli, ["check"]).exit_code == 2


def test_unknown_usb_module_warns() -> None:
    finding = only(describe('[[usb]]\nname = "gw"\nport = "usb2"\nmodule = "RAK5146"\n'), "module-unknown")
    assert finding.message == "usb2 gw: module 'RAK5146' is not in the catalogue"
    assert finding.fix == "did you mean RAK5146-SPI or RAK5146-USB?"


# --- properties over generated descriptions ---------------------------------------------------------------------

KNOWN_CODES = {
    "power-inputs", "power-voltage", "power-budget", "power-margin", "power-unrated", "usb-current", "hdmi-current",
    "twelve-volt", "slot-incompatible", "module-unknown", "lora-count", "spi-shared", "pcie-shared", "i2c-collision",
    "i2c-onboard-collision", "i2c-external-collision", "i2c-slot-empty", "cm4-missing", "jumper-emmc-flash",
}  # fmt: skip

module_names = st.sampled_from([m.name for m in MODULES] + ["mystery", "RAK5146"])
descriptions = st.fixed_dictionaries(
    {
        "power": st.fixed_dictionaries(
            {"input": st.sampled_from(["dc", "phoenix", "poe-at", "poe-bt"])},
            optional={"voltage": st.floats(5, 60), "supply_watts": st.floats(10, 200)},
        ),
        "board": st.fixed_dictionaries(
            {},
            optional={
                "fan": st.sampled_from(["none", "5v", "12v"]),
                "external_i2c": st.sampled_from(["i2c1", "i2c3"]),
                "adc_address": st.sampled_from(sorted(ADC_ADDRESS_RESISTORS)),
                "expander1_address": st.integers(0x20, 0x27),
                "expander2_address": st.integers(0x20, 0x27),
                "ethernet_2g5": st.booleans(),
                "cm4": st.booleans(),
            },
        ),
        "slots": st.dictionaries(st.sampled_from(SLOT_KEYS), module_names, max_size=7),
        "i2c": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.text("abcdef", min_size=1, max_size=4),
                    "slot": st.sampled_from(["hat", "wisblock1", "wisblock2", "mpcie1", "mpcie2", "mpcie3"]),
                    "address": st.integers(0x08, 0x77),
                }
            ),
            max_size=6,
        ),
    }
)


@given(descriptions)
def test_generated_descriptions_check_consistently(data: dict[str, object]) -> None:
    desc = BoardDescription.model_validate(data)
    findings = check_board(desc)
    assert {f.code for f in findings} <= KNOWN_CODES
    assert all(f.level in ("error", "warning") and f.message for f in findings)
    levels = [f.level for f in findings]
    assert levels == sorted(levels, key=lambda level: level != "error")
    budget = power_budget(desc)
    assert budget.total == pytest.approx(sum(item.watts for item in budget.items))
    onboard = {
        0x3C, 0x2F, 0x70, 0x51, 0x60, desc.board.adc_address, desc.board.expander1_address,
        desc.board.expander2_address,
    }  # fmt: skip
    collisions = [f for f in findings if f.code == "i2c-collision"]
    if desc.board.external_i2c == "i2c3":
        assert collisions == []
    else:
        assert len(collisions) == sum(d.address in onboard for d in desc.i2c)
        assert all(f.fix.endswith(EXTERNAL_BUS_MOVE) for f in collisions)
