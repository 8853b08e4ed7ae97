"""Where a search runs: Ray's environment switches (``env``), the nodes of a local or joined
cluster and whether a trial fits on one (``nodes``), and where results live (``storage``)."""
