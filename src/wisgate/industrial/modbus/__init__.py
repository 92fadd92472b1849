"""ModBUS: register codecs, the declarative device map, block planning, polling with health, writes."""
