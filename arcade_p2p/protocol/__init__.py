"""Wire format and the sans-io gossip node."""
