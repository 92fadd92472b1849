"""The industrial gateway: ModBUS RTU/TCP field devices and WisBlock IO modules as typed readings."""
