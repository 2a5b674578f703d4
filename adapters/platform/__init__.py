"""Speaks the machine and terminal hubship runs on: system facts (GPU, memory, disk) and progress bars."""
