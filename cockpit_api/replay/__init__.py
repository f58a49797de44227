"""The cockpit of a replay or an exercise: the live cockpit's page and protocol, fed from a
replay's timeline instead of Kafka (issue 16).

* :mod:`.picture` -- the timeline folded into the hub, with seek (captures every few
  minutes of event time, :mod:`.hub_state`);
* :mod:`.channel` -- the session: its pace (:mod:`replay.pace`), the page's controls
  (:mod:`.controls`), read-only replay or exercise;
* :mod:`.server` -- the replay cockpit on its own port (``citycc replay serve``).
"""
