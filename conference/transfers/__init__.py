"""Handing a place to a colleague: transfers, their approval and their history."""
