"""The channel-neutral front desk: a resident's message (`message.Message`, from any channel) is routed to the
answer service, the reporting conversation (`reports.ReportDesk`), progress or rating by `front.FrontDesk`; the
notices a resident reads about their reports are in `notices`. Depends on the session-store port, never on a
channel."""
