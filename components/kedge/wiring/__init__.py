"""How the layers connect: the helpers this project's program uses, public for other programs."""
