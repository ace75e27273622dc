"""Bolna SIP trunk operator: SipTrunk resources kept true in Bolna and in Kamailio."""

__version__ = "0.1.0"
