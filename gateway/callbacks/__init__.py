"""WAIT and callbacks: what Flow is owed when it cannot wait, and its delivery."""
