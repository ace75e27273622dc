"""The SIP edge: SipTrunks rendered as Kamailio dispatcher and address entries, the
JSON-RPC client that reloads and reads Kamailio, and gateway health from its probes."""
