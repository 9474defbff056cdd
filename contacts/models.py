"""Models land with the contacts/linkage issue."""
