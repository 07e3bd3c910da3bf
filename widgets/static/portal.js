/* Customer portal: subscriptions (filled in below). */
