"""Catalog: category tree, products, images, variants, inventory and reservations, reward
products priced in coins, product feed import; events and flash sales."""
