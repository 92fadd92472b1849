"""Channel plans split over modules: counts per module, IF limits, configs, impossible plans."""

from __future__ import annotations

import pytest

from wisgate.lora.errors import PlanError
from wisgate.lora.plans.allocation import IF_LIMIT_HZ, SX1280, SX1301, Module, ModuleAllocation, allocate
from wisgate.lora.plans.channels import (
    Channel,
    ChannelKind,
    ChannelPlan,
    as923,
    au915,
    eu868,
    in865,
    ism2400,
    kr920,
    us915,
)
from wisgate.lora.plans.module_conf import concentratord_section, semtech_global_conf


def modules(region: str, count: int) -> list[Module]:
    return [Module.for_region(board, region) for board in range(count)]


def check_limits(allocations: list[ModuleAllocation]) -> None:
    """Every placed channel sits within its radio's IF limit, and IF = frequency - centre."""
    for alloc in allocations:
        assert len(alloc.multi_sf) <= 8
        for placed in alloc.if_channels:
            centre = alloc.radio_centres_hz[placed.radio]
            assert centre is not None
            assert placed.if_hz == placed.channel.frequency_hz - centre
            assert abs(placed.if_hz) <= IF_LIMIT_HZ[placed.channel.bandwidth_hz]


def test_channel_plans_have_the_published_frequencies() -> None:
    assert [c.frequency_hz for c in us915(1).of_kind(ChannelKind.MULTI_SF)] == [
        902_300_000 + 200_000 * i for i in range(8)
    ]
    assert us915(2).of_kind(ChannelKind.LORA_STD)[0].frequency_hz == 904_600_000
    assert au915(1).of_kind(ChannelKind.MULTI_SF)[0].frequency_hz == 915_200_000
    assert au915(2).of_kind(ChannelKind.LORA_STD)[0].frequency_hz == 917_500_000
    assert us915(8).of_kind(ChannelKind.MULTI_SF)[-1].frequency_hz == 914_900_000
    assert len(eu868(16).of_kind(ChannelKind.MULTI_SF)) == 16
    with pytest.raises(ValueError, match="FSB 9"):
        us915(9)


def test_eu868_8_on_one_module_matches_the_semtech_layout() -> None:
    (alloc,) = allocate(eu868(8), modules("EU868", 1))
    check_limits([alloc])
    assert alloc.radio_centres_hz == (867_500_000, 868_500_000)
    assert len(alloc.multi_sf) == 8
    assert alloc.lora_std is not None and (alloc.lora_std.radio, alloc.lora_std.if_hz) == (1, -200_000)
    assert alloc.fsk is not None and (alloc.fsk.radio, alloc.fsk.if_hz) == (1, 300_000)


def test_eu868_16_over_two_modules() -> None:
    allocs = allocate(eu868(16), modules("EU868", 2))
    check_limits(allocs)
    assert [len(a.multi_sf) for a in allocs] == [8, 8]
    assert {c.channel.frequency_hz for c in allocs[0].multi_sf} == {863_100_000 + 200_000 * i for i in range(8)}
    assert allocs[0].lora_std is None and allocs[1].lora_std is not None
    assert allocs[1].fsk is not None


@pytest.mark.parametrize(
    ("plan", "region", "centres"),
    [
        (us915(1), "US915", [902_700_000]),
        (us915(2), "US915", [904_300_000]),
        (au915(1), "AU915", [915_600_000]),
        (au915(2), "AU915", [917_200_000]),
    ],
)
def test_one_fsb_per_module_puts_the_500k_channel_at_plus_300(
    plan: ChannelPlan, region: str, centres: list[int]
) -> None:
    (alloc,) = allocate(plan, modules(region, 1))
    check_limits([alloc])
    assert len(alloc.multi_sf) == 8
    assert alloc.lora_std is not None and alloc.lora_std.if_hz == 300_000
    assert alloc.radio_centres_hz[alloc.lora_std.radio] == centres[0]


@pytest.mark.parametrize("fsbs", [(1, 2), (2, 3), (7, 8), (1, 5)])
def test_two_fsbs_over_two_modules(fsbs: tuple[int, int]) -> None:
    for plan, region in ((us915(*fsbs), "US915"), (au915(*fsbs), "AU915")):
        allocs = allocate(plan, modules(region, 2))
        check_limits(allocs)
        assert [len(a.multi_sf) for a in allocs] == [8, 8]
        assert all(a.lora_std is not None for a in allocs)


def test_four_fsbs_over_four_modules() -> None:
    allocs = allocate(us915(1, 2, 3, 4), modules("US915", 4))
    check_limits(allocs)
    assert [len(a.multi_sf) for a in allocs] == [8, 8, 8, 8]


def test_as923_needs_a_balanced_split_for_the_fsk_channel() -> None:
    (alloc,) = allocate(as923(), modules("AS923", 1))
    check_limits([alloc])
    assert len(alloc.multi_sf) == 8
    assert alloc.fsk is not None and alloc.fsk.channel.frequency_hz == 921_800_000
    assert alloc.lora_std is not None


@pytest.mark.parametrize(("plan", "region", "count"), [(in865(), "IN865", 3), (kr920(), "KR920", 7)])
def test_small_plans_fit_one_module(plan: ChannelPlan, region: str, count: int) -> None:
    allocs = allocate(plan, modules(region, 2))
    check_limits(allocs)
    assert [len(a.multi_sf) for a in allocs] == [count, 0]
    assert allocs[1].radio_centres_hz == (None, None)


def test_eu868_plus_ism2400_on_two_sx1302_and_one_sx1280() -> None:
    mods = [*modules("EU868", 2), Module.for_region(2, "ISM2400", SX1280, com_path="/dev/ttyACM0")]
    allocs = allocate(eu868(16) + ism2400((12, 10, 7)), mods)
    check_limits(allocs)
    assert [len(a.channels) for a in allocs] == [8, 10, 3]
    assert [c.spreading_factor for c in allocs[2].channels_2g4] == [12, 10, 7]
    conf = semtech_global_conf(allocs[2])["radio_conf"]
    assert conf["tty_path"] == "/dev/ttyACM0"
    assert conf["chan_1"] == {"enable": True, "freq": 2_425_000_000, "bandwidth": 812_000, "spread_factor": 10}
    assert conf["tx"] == {"enable": True, "tx_freq_min": 2_400_000_000, "tx_freq_max": 2_483_500_000}
    section = concentratord_section(allocs[2], "ISM2400")["gateway"]["concentrator"]
    assert section["channels"][0] == {"frequency": 2_403_000_000, "bandwidth": 812_000, "spreading_factor": 12}


def test_semtech_sx130x_conf_for_us915_fsb2() -> None:
    (alloc,) = allocate(us915(2), modules("US915", 1))
    conf = semtech_global_conf(alloc)["SX130x_conf"]
    assert conf["radio_0"] == {
        "enable": True,
        "type": "SX1250",
        "freq": 904_300_000,
        "tx_enable": True,
        "tx_freq_min": 902_000_000,
        "tx_freq_max": 928_000_000,
    }
    assert conf["radio_1"]["tx_enable"] is False
    assert conf["chan_multiSF_0"] == {"enable": True, "radio": 0, "if": -400_000}
    enabled = [conf[f"chan_multiSF_{i}"] for i in range(8)]
    assert all(c["enable"] for c in enabled)
    # every IF chain maps back to one of the FSB2 frequencies
    freqs = {conf[f"radio_{c['radio']}"]["freq"] + c["if"] for c in enabled}
    assert freqs == {903_900_000 + 200_000 * i for i in range(8)}
    assert conf["chan_Lora_std"] == {
        "enable": True,
        "radio": 0,
        "if": 300_000,
        "bandwidth": 500_000,
        "spread_factor": 8,
        "implicit_hdr": False,
    }
    assert conf["chan_FSK"] == {"enable": False}


def test_concentratord_section_for_eu868() -> None:
    mod = Module.for_region(0, "EU868", model="rak_5146")
    (alloc,) = allocate(eu868(8), [mod])
    gateway = concentratord_section(alloc, "EU868")["gateway"]
    assert gateway["region"] == "EU868" and gateway["model"] == "rak_5146"
    conc = gateway["concentrator"]
    assert sorted(conc["multi_sf_channels"]) == sorted(
        [868_100_000, 868_300_000, 868_500_000, 867_100_000, 867_300_000, 867_500_000, 867_700_000, 867_900_000]
    )
    assert conc["lora_std"] == {"frequency": 868_300_000, "bandwidth": 250_000, "spreading_factor": 7}
    assert conc["fsk"] == {"frequency": 868_800_000, "bandwidth": 125_000, "datarate": 50_000}


def test_unused_radio_is_disabled_in_the_config() -> None:
    allocs = allocate(in865(), modules("IN865", 2))
    conf = semtech_global_conf(allocs[1])["SX130x_conf"]
    assert conf["radio_0"]["enable"] is False and conf["radio_1"]["enable"] is False
    assert not any(conf[f"chan_multiSF_{i}"]["enable"] for i in range(8))


def test_too_many_channels_names_the_first_that_does_not_fit() -> None:
    with pytest.raises(PlanError, match=r"channel 867\.1 MHz multi-SF 125 kHz does not fit: 16 multi-SF channels, 8"):
        allocate(eu868(16), modules("EU868", 1))


def test_too_many_500k_channels() -> None:
    extra_std = Channel(906_200_000, ChannelKind.LORA_STD, 500_000, 8)
    plan = ChannelPlan("std3", "US915", (*us915(1, 2).channels, extra_std))
    with pytest.raises(PlanError, match=r"channel 906\.2 MHz LoRa std 500 kHz SF8 does not fit: 3 LoRa std channels"):
        allocate(plan, modules("US915", 2))
    with pytest.raises(PlanError, match=r"channel 905\.5 MHz multi-SF 125 kHz does not fit: 24 multi-SF"):
        allocate(us915(1, 2, 3), modules("US915", 2))


def test_channel_out_of_every_radio_window() -> None:
    spread = ChannelPlan("spread", "EU868", tuple(Channel(f) for f in (863_100_000, 865_100_000, 867_100_000)))
    with pytest.raises(PlanError, match=r"channel 867\.1 MHz multi-SF 125 kHz does not fit: no radio left"):
        allocate(spread, modules("EU868", 1))
    allocs = allocate(spread, modules("EU868", 2))  # a second module has the radios it needs
    check_limits(allocs)


def test_std_channel_without_a_reachable_radio() -> None:
    plan = ChannelPlan(
        "far-std",
        "EU868",
        (
            Channel(868_100_000),
            Channel(868_300_000),
            Channel(863_000_000, ChannelKind.LORA_STD, 500_000, 8),
            Channel(867_100_000),
            Channel(867_300_000),
        ),
    )
    with pytest.raises(PlanError, match=r"channel 863 MHz LoRa std 500 kHz SF8 does not fit: no radio with a free"):
        allocate(plan, modules("EU868", 1))


def test_channel_outside_the_module_band() -> None:
    with pytest.raises(PlanError, match=r"902\.3 MHz .* does not fit: outside the module's band"):
        allocate(us915(1), modules("EU868", 1))


def test_2g4_channels_need_an_sx1280() -> None:
    with pytest.raises(PlanError, match=r"channel 2425 MHz .* no SX1280"):
        allocate(ism2400() + ism2400(), [Module.for_region(0, "ISM2400", SX1280)])


def test_sx1301_has_the_same_chains() -> None:
    (alloc,) = allocate(eu868(8), [Module(0, SX1301)])
    assert len(alloc.channels) == 10


def test_unsupported_bandwidth_and_duplicate_boards() -> None:
    odd = ChannelPlan("odd", "EU868", (Channel(868_100_000, ChannelKind.LORA_STD, 62_500, 7),))
    with pytest.raises(PlanError, match="62500 Hz bandwidth"):
        allocate(odd, modules("EU868", 1))
    with pytest.raises(PlanError, match="share a board id"):
        allocate(eu868(), [Module(0), Module(0)])
