// The runtime: G, M, P, run queues, timers, sysmon, channels, sync. See DESIGN.md.
