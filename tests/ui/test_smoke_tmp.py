from ui_support import make_app, loaded, screen_text, rows

async def test_smoke(db, seeded):
    app = make_app(db)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        print(screen_text(app))
        await pilot.press("2")
        await loaded(pilot)
        print(screen_text(app))
        await pilot.press("3")
        await loaded(pilot)
        print(screen_text(app))
