"""What one command does: the library functions behind the command lines."""
