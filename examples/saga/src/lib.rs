//! `saga`: an order that reserves stock, charges a card and ships. Each step
//! has a compensation; when a later step fails, the completed steps are undone
//! in reverse order and the order fails with what was compensated.

use cairn_sdk::prelude::*;
use std::time::Duration;

#[derive(Deserialize, Serialize, Clone)]
struct Order {
    order_id: String,
    item: String,
    quantity: u32,
    amount_cents: u64,
    /// Wait this long between payment and shipping (a durable timer).
    #[serde(default)]
    hold_ms: u64,
}

#[derive(Serialize)]
struct Receipt {
    order_id: String,
    reservation: String,
    payment: String,
    tracking: String,
}

fn saga(order: Order) -> Result<Receipt, Failure> {
    let retrying = ActivityOptions::default()
        .max_attempts(5)
        .initial_interval(Duration::from_millis(20));
    let mut compensations: Vec<(&str, String)> = Vec::new();

    let outcome = (|| -> Result<Receipt, Failure> {
        let reservation: String = workflow::start_with("reserve", &order, &retrying).wait()?;
        compensations.push(("release", reservation.clone()));
        let payment: String = workflow::start_with("charge", &order, &retrying).wait()?;
        compensations.push(("refund", payment.clone()));
        if order.hold_ms > 0 {
            // Cancelling the execution here interrupts the timer; the
            // completed steps are compensated below.
            workflow::sleep(Duration::from_millis(order.hold_ms))?;
        }
        let tracking: String = workflow::start_with("ship", &order, &retrying).wait()?;
        Ok(Receipt {
            order_id: order.order_id.clone(),
            reservation,
            payment,
            tracking,
        })
    })();

    match outcome {
        Ok(receipt) => Ok(receipt),
        Err(failure) => {
            workflow::warn(format!("order {} failed ({failure}); compensating", order.order_id));
            let mut undone = Vec::new();
            for (activity, id) in compensations.iter().rev() {
                let _: String = workflow::start_with(activity, id, &retrying).wait()?;
                undone.push(format!("{activity} {id}"));
            }
            Err(
                Failure::new("order-failed", format!("order {} failed: {failure}", order.order_id))
                    .with_details(serde_json::json!({ "cause": failure.code, "compensated": undone })),
            )
        }
    }
}

cairn_sdk::workflow!(saga);
