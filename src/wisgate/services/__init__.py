"""Services: what the board does with its chips (status, fan, power, display...)."""
