"""Reconciling trunks (SipTrunk and CarrierTrunk): pure planning and condition logic,
per-kind backends, and the parts that do I/O."""
