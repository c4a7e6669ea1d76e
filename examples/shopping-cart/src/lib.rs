//! `shopping-cart` — one durable shopping cart per worker: add, update and
//! remove items, then check out (which empties the cart and prints the order).
//!
//! Build (from `examples/`): `cargo build --target wasm32-wasip2 --release`,
//! producing `target/wasm32-wasip2/release/shopping_cart.wasm`.
//!
//! Deploy and call (CLI, or plain NATS request/reply with a JSON argument array):
//!
//! ```text
//! revenant component add shopping-cart target/wasm32-wasip2/release/shopping_cart.wasm
//! revenant invoke shopping-cart/alice add-item '{product-id: "p1", name: "Mug", price: 7.5, quantity: 2}'
//! revenant invoke shopping-cart/alice update-quantity '"p1"' 3
//! revenant invoke shopping-cart/alice get-cart
//! nats request rvn.call.shopping-cart.alice -H 'Rvn-Function: checkout' '[]'
//!   # => ok: order-id "order-1", total 22.5, the items
//! ```
//!
//! `checkout` prints `order order-<n>: <k> item(s), total <t>` to stdout;
//! nothing else prints. Exports `example:shopping-cart/api.{add-item,
//! remove-item, update-quantity, get-cart, checkout}`; imports only WASI 0.2.

use std::sync::Mutex;

wit_bindgen::generate!({ path: "wit", world: "shopping-cart" });

use exports::example::shopping_cart::api::{Guest, OrderConfirmation, ProductItem};

/// The worker's state: the cart and how many orders it has placed.
struct Cart {
    items: Vec<ProductItem>,
    orders: u64,
}

static CART: Mutex<Cart> = Mutex::new(Cart {
    items: Vec::new(),
    orders: 0,
});

fn with_cart<T>(f: impl FnOnce(&mut Cart) -> T) -> T {
    // A panic inside `f` traps the whole instance, so a poisoned lock is never observed.
    f(&mut CART.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

fn not_in_cart(product_id: &str) -> String {
    format!("product {product_id:?} is not in the cart")
}

struct ShoppingCart;

impl Guest for ShoppingCart {
    fn add_item(item: ProductItem) {
        with_cart(|cart| {
            match cart
                .items
                .iter_mut()
                .find(|i| i.product_id == item.product_id)
            {
                Some(existing) => {
                    existing.quantity = existing.quantity.saturating_add(item.quantity);
                    existing.name = item.name;
                    existing.price = item.price;
                }
                None => cart.items.push(item),
            }
        });
    }

    fn remove_item(product_id: String) -> Result<(), String> {
        with_cart(|cart| {
            let before = cart.items.len();
            cart.items.retain(|i| i.product_id != product_id);
            if cart.items.len() == before {
                Err(not_in_cart(&product_id))
            } else {
                Ok(())
            }
        })
    }

    fn update_quantity(product_id: String, quantity: u32) -> Result<(), String> {
        with_cart(|cart| {
            let pos = cart
                .items
                .iter()
                .position(|i| i.product_id == product_id)
                .ok_or_else(|| not_in_cart(&product_id))?;
            if quantity == 0 {
                cart.items.remove(pos);
            } else {
                cart.items[pos].quantity = quantity;
            }
            Ok(())
        })
    }

    fn get_cart() -> Vec<ProductItem> {
        with_cart(|cart| cart.items.clone())
    }

    fn checkout() -> Result<OrderConfirmation, String> {
        with_cart(|cart| {
            if cart.items.is_empty() {
                return Err("cannot check out an empty cart".to_string());
            }
            cart.orders += 1;
            let items = std::mem::take(&mut cart.items);
            let total = items.iter().map(|i| i.price * i.quantity as f32).sum();
            let order = OrderConfirmation {
                order_id: format!("order-{}", cart.orders),
                total,
                items,
            };
            println!(
                "order {}: {} item(s), total {}",
                order.order_id,
                order.items.len(),
                order.total
            );
            Ok(order)
        })
    }
}

export!(ShoppingCart);
