//! Activities for the `saga` example: `reserve`, `charge`, `ship` and their
//! compensations `release` and `refund`. `charge` fails transiently on its
//! first attempt (the host retries it); `ship` fails for good for the item
//! `unobtainium`.

use cairn_sdk::prelude::*;

#[derive(Deserialize)]
struct Order {
    order_id: String,
    item: String,
    quantity: u32,
    amount_cents: u64,
}

fn reserve(order: Order) -> Result<String, Failure> {
    if order.quantity == 0 {
        return Err(Failure::new("invalid-quantity", "cannot reserve zero items"));
    }
    Ok(format!("rsv-{}-{}x{}", order.order_id, order.quantity, order.item))
}

fn charge(order: Order) -> Result<String, Failure> {
    if activity::attempt() == 1 {
        return Err(Failure::retryable("gateway-timeout", "the card gateway did not answer"));
    }
    Ok(format!(
        "pay-{}-{}c-{}",
        order.order_id,
        order.amount_cents,
        activity::idempotency_key()
    ))
}

fn ship(order: Order) -> Result<String, Failure> {
    if order.item == "unobtainium" {
        return Err(Failure::new(
            "out-of-stock",
            format!("{} cannot be shipped", order.item),
        ));
    }
    Ok(format!("trk-{}", order.order_id))
}

fn release(reservation: String) -> Result<String, Failure> {
    Ok(format!("released {reservation}"))
}

fn refund(payment: String) -> Result<String, Failure> {
    Ok(format!("refunded {payment}"))
}

cairn_sdk::activities! {
    "reserve" => reserve,
    "charge" => charge,
    "ship" => ship,
    "release" => release,
    "refund" => refund,
}
