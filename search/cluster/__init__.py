"""Where a search runs: Ray's environment switches (``env``), the nodes of a local or joined
cluster and whether a trial fits on one (``nodes``), where results live (``storage``), and the
checks made before Ray is called: a cluster config's CHANGE: values and a cluster to join
(``check``)."""
