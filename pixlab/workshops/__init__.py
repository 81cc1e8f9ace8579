"""The trainer's side: trainer accounts, workshops and join codes, the class view, faults,
export and retention."""
