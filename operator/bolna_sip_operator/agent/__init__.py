"""The edge agent: a sidecar in each Kamailio pod that loads the lists the operator wrote.

In a cluster, a ConfigMap mounted as a volume reaches Kamailio only when the kubelet
syncs it, a minute or more after the operator's write, and one ConfigMap holds at most
1 MiB. The agent removes both limits. It follows the lists' ConfigMaps through the API
(``follow``), writes the lists into the pod's own volume, reloads its own Kamailio over
the pod's network (``loader``), and reports what it loaded on ``/readyz`` (``main``).

The operator stays the single writer and the judge: it writes the ConfigMaps and reads
back every replica's tables over JSON-RPC, exactly as without agents; it only stops
reloading replicas itself (``ConfigMapSink(agents=True)``).

Run as ``bolna-sip-operator edge-agent``; the chart runs it as a native sidecar, started
(and its first write done) before Kamailio, so a new pod starts with the current lists.
"""
