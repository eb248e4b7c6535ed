"""Conversation data preparation, LoRA/QLoRA training, merging and inference loading.

Never imports graph/ or supportbot/.
"""
