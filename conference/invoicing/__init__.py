"""Invoices and credit notes: numbering, snapshots, PDF and Peppol UBL."""
