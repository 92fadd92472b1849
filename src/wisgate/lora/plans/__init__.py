"""Channel plans: regional plans, plans by name, placing a plan on the installed modules, the module
configuration it yields, and importing a Semtech packet-forwarder configuration.
"""
