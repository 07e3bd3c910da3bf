/* Customer portal: payment methods, invoices and billing details. */
