"""The app catalog: curated Docker services with their hardware needs declared, resolved and checked (docs/apps.md).

``manifest`` and ``compose`` read one catalog folder, ``catalog`` finds the folders, ``lint`` judges them,
``hardware`` turns abstract needs into device nodes on this board, ``plan`` renders an install, ``engine``
drives the Docker Engine and ``export`` writes compose and Portainer files. ``manager`` ties them together
for the CLI and the HTTP API. Nothing here imports the simulator or a bus.
"""
