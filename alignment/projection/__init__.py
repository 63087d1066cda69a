"""Entity-span projection through a word alignment: the span search and its candidate scoring."""
