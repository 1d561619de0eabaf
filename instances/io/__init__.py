"""Readers and writers of foreign formats: Willems / SNC chains, stockpyl, the xlsx map."""
