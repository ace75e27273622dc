"""Reconciling SipTrunks: pure planning and condition logic, and the runner that does I/O."""
