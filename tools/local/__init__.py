"""The local emulator: gateway, scheduler, make invoke, load runs."""
