"""The NATS connector: the hub's canonical events, published to a JetStream stream.

Other systems (BI, a data lake, a second hub region) subscribe to the stream instead of
each being one more webhook endpoint. `sink.py` is the `nats` row of
`intermodal.wiring.SINK_KINDS`: one connection per endpoint, each publish acknowledged by
JetStream, the command id as `Nats-Msg-Id` so the stream drops a resend.
"""
