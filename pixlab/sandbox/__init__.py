"""The sandbox's store: learners, their devices, what each device keeps, their traces.

Every caller goes through `DeviceStore` (`pixlab.sandbox.store`) and a
device's `LocalMailbox` (`pixlab.sandbox.local`); the web layer writes no SQL.
Other parts add their own learners beside the sandbox's through the same
store: a scenario's devices are rows above the sandbox's two (see
`DeviceStore.keep_devices`), and a workshop keeps its own tables that point
at `learners.id`.
"""
