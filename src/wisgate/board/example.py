"""The commented example board description printed by ``wisgate check --example``.

Kept identical to docs/examples/board.toml (a test compares them).
"""

EXAMPLE_TOML = """\
# RAK7391 WisGate Connect board description, checked by `wisgate check board.toml`.
# Every table and key is optional except [power].input. See docs/board.md for each check.

[power]
input = "poe-bt"          # dc | phoenix | poe-at | poe-bt (only one input at a time)
voltage = 48              # volts at the input: 10-28 for dc/phoenix, 42-57 for PoE
# supply_watts = 60       # dc/phoenix: the adapter's rating (PoE limits come from the datasheet)

[board]
cm4 = true                # a CM4 is fitted (budgeted at 25 W)
fan = "12v"               # none | 5v | 12v: the fan voltage jumper (12 V out needs PoE)
# fan_watts = 2.0         # override the fan's estimated draw
external_i2c = "i2c1"     # i2c3 after moving R718/R719 to R716/R717 (R720/R721 4.7K, R722/R723 removed)
adc_address = 0x4B        # R648 fitted (default); R650 = 0x48, R647 = 0x49, R649 = 0x4A
expander1_address = 0x27  # U134, resistors R701-R706 (0x20-0x27)
expander2_address = 0x26  # U133, resistors R633-R638 (0x20-0x27)
jumpers = ["buzzer-on", "wake-up"]  # J39: emmc-flash, eeprom-nwp, wifi-off, bt-off, wake-up, buzzer-on
ethernet_2g5 = false      # the 2.5 GbE port is in use (it shares the PCIe lane)
hdmi_ma = 0               # current the HDMI display draws from the board (limit 500 mA)

[slots]                   # a module name, or a table {module = "...", watts = 1.5}
mpcie1 = "RAK5146-SPI"    # sub-GHz concentrator on /dev/spidev0.0, reset GPIO17
mpcie2 = "RAK5146-USB"    # second concentrator over USB
# mpcie3 = "Hailo-8"
m2 = "NVMe"
wisblock1 = "RAK5801"     # 4-20 mA input
wisblock2 = "RAK5802"     # RS485 / ModBUS
hat = { module = "sensor HAT", watts = 0.5 }  # HATs are not catalogued: give watts

[[i2c]]                   # external I2C devices: which connector, which address
name = "BME280"
slot = "hat"              # hat | wisblock1 | wisblock2 | mpcie1 | mpcie2 | mpcie3
address = 0x76
alternatives = [0x77]     # addresses its own straps allow

[[usb]]
name = "USB stick"
port = "usb2"             # usb2 | usb3-1 | usb3-2
ma = 100

[[loads]]
name = "LED strip"
watts = 1.0
rail = "5v"               # 5v | 12v | input
"""
