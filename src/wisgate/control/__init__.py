"""The running daemon's board for other commands: a local control socket and the target that uses it.

``wisgate run`` on the simulated board serves :mod:`wisgate.control.server` on a unix socket in the
runtime directory; :func:`wisgate.target.open_target` hands commands a
:class:`wisgate.control.remote.RemoteTarget` when that socket answers, so ``wisgate gpio``, ``fan``,
``status``... act on the daemon's board instead of a simulated board of their own.
"""
